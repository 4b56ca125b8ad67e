"""Key sources: where the vault's key-encryption keys live (`vault.interfaces.KeySource`)."""
