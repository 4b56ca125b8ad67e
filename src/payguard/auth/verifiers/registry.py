"""The factor verifiers of a deployment, one per factor kind."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from payguard.auth.factors import FactorKind, Passed, Proof
from payguard.auth.interfaces import AuthUser, Challenge
from payguard.auth.verifiers.verifier import FactorVerifier, Linking
from payguard.core.errors import ValidationFailed


class VerifierRegistry:
    """Routes each proof to the verifier of its kind; a kind registered twice is refused."""

    def __init__(self, verifiers: Iterable[FactorVerifier]) -> None:
        self._by_kind: dict[FactorKind, FactorVerifier] = {}
        for verifier in verifiers:
            if verifier.kind in self._by_kind:
                raise ValueError(f"two verifiers for the {verifier.kind.value!r} factor")
            self._by_kind[verifier.kind] = verifier

    @property
    def kinds(self) -> frozenset[FactorKind]:
        return frozenset(self._by_kind)

    def __getitem__(self, kind: FactorKind) -> FactorVerifier:
        """The verifier of `kind`; `ValidationFailed` if the deployment accepts no such
        factor."""
        verifier = self._by_kind.get(kind)
        if verifier is None:
            raise ValidationFailed(f"the {kind.value} factor is not accepted", field="factors")
        return verifier

    def check_shapes(self, proofs: Sequence[Proof]) -> None:
        """Refuse the first proof no verification of its kind could accept."""
        for proof in proofs:
            self[proof.kind].check_shape(proof)

    def verify(
        self,
        user: AuthUser,
        proof: Proof,
        *,
        linking: Linking | None = None,
        login: Challenge | None = None,
    ) -> Passed:
        return self[proof.kind].verify(user, proof, linking=linking, login=login)
