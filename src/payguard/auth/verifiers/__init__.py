"""Factor verifiers: one small class per factor kind, kept in a `VerifierRegistry`.

Each verifier (`FactorVerifier`) refuses a malformed proof before anything is counted
(`check_shape`) and checks a proof for a user (`verify`), spending what the proof consumes.
"""

from payguard.auth.verifiers.device_verifier import DeviceVerifier
from payguard.auth.verifiers.passkey_verifier import PasskeyVerifier
from payguard.auth.verifiers.password_verifier import PasswordVerifier
from payguard.auth.verifiers.recovery_code_verifier import RecoveryCodeVerifier
from payguard.auth.verifiers.registry import VerifierRegistry
from payguard.auth.verifiers.totp_verifier import TotpSecrets, TotpVerifier
from payguard.auth.verifiers.verifier import FactorVerifier, Linking

__all__ = [
    "DeviceVerifier",
    "FactorVerifier",
    "Linking",
    "PasskeyVerifier",
    "PasswordVerifier",
    "RecoveryCodeVerifier",
    "TotpSecrets",
    "TotpVerifier",
    "VerifierRegistry",
]
