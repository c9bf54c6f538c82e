"""Perturbing several examples at once: the group form of the MPE (mpe-math §4, §5).

For a group M with weight changes Δ_j, stack the members' rows: J_M (mk, P), the cross
variance V_MM = J_M S⁻¹ J_Mᵀ (mk, mk) and the block diagonal Λ_M of the Λ_j. Then

    u_M = (I + diag(Δ) Λ_M V_MM)⁻¹ diag(Δ) e_M,   Δθ = −S⁻¹ J_Mᵀ u_M,   Δf_M = −V_MM u_M

— one small (mk × mk) solve, whatever the weights. ``GroupSolves`` keeps, for the last few
groups, what does not depend on the weights (S⁻¹J_Mᵀ, V_MM and Λ_M), so that moving a weight
slider costs one small solve, not a solve with S.
"""
import numpy as np
from scipy.linalg import block_diag


class GroupSolves:
    """The weight-independent parts of the group form, for one Sensitivity, kept per group."""

    def __init__(self, jacobians, curvatures, precision, keep=64):
        self.jacobians, self.curvatures, self.precision, self.keep = jacobians, curvatures, precision, keep
        self._kept = {}
        self._eig = {}

    def parts(self, idx):
        """(S⁻¹J_Mᵀ (P, mk), V_MM (mk, mk), Λ_M (mk, mk)) for the group idx (m,)."""
        key = idx.tobytes()
        if key not in self._kept:
            (_, k, P), m = self.jacobians.shape, len(idx)
            JM = self.jacobians[idx].reshape(m * k, P)
            SinvJT = self.precision.solve(JM.T)
            if len(self._kept) >= self.keep:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = (SinvJT, JM @ SinvJT, block_diag(*self.curvatures[idx]))
        return self._kept[key]

    def eig_LV(self, idx):
        """The eigenvalues of Λ_M V_MM for the group idx (kept): with one common weight change
        Δw, I + ΔwΛ_MV_MM is positive definite iff every 1 + Δw·λ exceeds 0."""
        key = idx.tobytes()
        if key not in self._eig:
            _, VMM, LamM = self.parts(idx)
            if len(self._eig) >= self.keep:
                self._eig.pop(next(iter(self._eig)))
            self._eig[key] = np.linalg.eigvals(LamM @ VMM)
        return self._eig[key]
