"""`Pkcs11KeySource`: the KEK in an HSM (or any PKCS#11 token, such as SoftHSM2).

The KEK is an AES-256 secret key on the token, found by its label, marked sensitive and not
extractable: it never leaves the token. Data keys are wrapped inside the token with
CKM_AES_GCM (a random 96-bit IV, a 128-bit tag) and the same associated data as the local
key file (tenant, purpose, version); a wrapped key is `iv (12 bytes) + ciphertext + tag`.

With `create` (no data keys stored yet) a missing KEK is generated on the token; once data
keys are stored, a missing KEK is refused. One logged-in session is held per process and
used under a lock (PKCS#11 sessions are not safe to share between threads).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pkcs11
from pkcs11 import Attribute, GCMParams, KeyType, Mechanism, ObjectClass

from payguard.vault.interfaces import KeySourceUnavailable

__all__ = ["Pkcs11KeySource"]

_IV_BYTES = 12
_KEK_BITS = 256


class Pkcs11KeySource:
    """A KEK on a PKCS#11 token. `library`: the module's path
    (`/usr/lib/softhsm/libsofthsm2.so`); the token is found by `token_label`, logged into
    with `pin`; the KEK is the AES key labelled `key_label`."""

    def __init__(
        self, library: str, *, token_label: str, pin: str, key_label: str, create: bool
    ) -> None:
        self._library = library
        self._token_label = token_label
        self._pin = pin
        self._key_label = key_label
        self._create = create
        self._lock = threading.Lock()
        self._session: Any = None
        self._key: Any = None

    def check(self) -> None:
        """Open the token and find (or make) the KEK now, so a bad setup stops the start."""
        with self._lock:
            self._kek()

    def key_id(self) -> str:
        return f"pkcs11:{self._key_label}"

    def wrap(self, key_id: str, plaintext: bytes, aad: bytes) -> bytes:
        self._own(key_id)
        iv = os.urandom(_IV_BYTES)
        with self._lock:
            try:
                wrapped = self._kek().encrypt(
                    plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(iv, aad)
                )
            except pkcs11.PKCS11Error as exc:
                raise KeySourceUnavailable(
                    f"the PKCS#11 token did not wrap a data key ({type(exc).__name__})"
                ) from None
        return iv + bytes(wrapped)

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        self._own(key_id)
        with self._lock:
            try:
                return bytes(
                    self._kek().decrypt(
                        wrapped[_IV_BYTES:],
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=GCMParams(wrapped[:_IV_BYTES], aad),
                    )
                )
            except pkcs11.PKCS11Error as exc:
                raise KeySourceUnavailable(
                    f"a data key wrapped under {key_id} does not open on the PKCS#11 token "
                    f"({type(exc).__name__}): it was altered or stored for another tenant, "
                    "purpose or version"
                ) from None

    def describe(self) -> str:
        return f"PKCS#11 token {self._token_label!r} ({self._library}), key {self._key_label!r}"

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
            self._session = None
            self._key = None

    def _own(self, key_id: str) -> None:
        if key_id != self.key_id():
            raise KeySourceUnavailable(
                f"data keys were wrapped under {key_id} but this PKCS#11 source holds "
                f"{self.key_id()}: set PAYGUARD_VAULT_PKCS11_KEY_LABEL to the key they were "
                "made with"
            )

    def _kek(self) -> Any:
        """The KEK's handle, opening the session first if needed; call under the lock."""
        if self._key is not None:
            return self._key
        try:
            token = pkcs11.lib(self._library).get_token(token_label=self._token_label)
            try:
                session = token.open(user_pin=self._pin, rw=True)
            except pkcs11.UserAlreadyLoggedIn:  # a login is per process: another source's
                session = token.open(rw=True)
        except pkcs11.PKCS11Error as exc:
            raise KeySourceUnavailable(
                f"the PKCS#11 token {self._token_label!r} ({self._library}) cannot be opened "
                f"({type(exc).__name__}): check the library, the token label and the PIN"
            ) from None
        except RuntimeError as exc:  # the library itself did not load
            raise KeySourceUnavailable(
                f"the PKCS#11 library {self._library} does not load: {exc}"
            ) from None
        try:
            key = session.get_key(
                object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=self._key_label
            )
        except pkcs11.NoSuchKey:
            if not self._create:
                session.close()
                raise KeySourceUnavailable(
                    f"data keys are stored but the PKCS#11 token {self._token_label!r} has no "
                    f"key labelled {self._key_label!r}: a new key would not open them"
                ) from None
            key = session.generate_key(
                KeyType.AES,
                _KEK_BITS,
                label=self._key_label,
                store=True,
                template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
            )
        except pkcs11.PKCS11Error as exc:
            session.close()
            raise KeySourceUnavailable(
                f"the KEK {self._key_label!r} cannot be read from the PKCS#11 token "
                f"({type(exc).__name__})"
            ) from None
        self._session = session
        self._key = key
        return key
