"""Versioned rule sets: YAML documents of CEL conditions, compiled once per version."""
