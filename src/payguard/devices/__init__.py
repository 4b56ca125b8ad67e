"""Device health: posture and attestation intake, health score, warnings, app integrity."""
