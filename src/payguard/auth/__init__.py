"""Adaptive authentication: passwords, TOTP, passkeys, device binding and risk-based step-up."""
