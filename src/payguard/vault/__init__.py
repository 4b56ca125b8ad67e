"""The tokenization vault: per-tenant data keys wrapped by a key-encryption key (`keys`),
and, on top of them, tokens and format-preserving encryption."""
