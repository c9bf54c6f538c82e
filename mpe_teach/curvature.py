"""Posterior precisions S and the prediction variances they imply (mpe-math §2, §6).

A precision object answers two questions, vectorised over examples:
    solve(B)      S⁻¹ B                         B (P, m)
    variances(J)  V_i = J_i S⁻¹ J_iᵀ            J (n, k, P) → (n, k, k)
``build_precision(structure, ...)`` makes one from a fitted model's Jacobians and curvatures.
"""
import numpy as np
from scipy.linalg import cho_solve, solve_triangular

from .mlp_curvature import kfac, last_layer


def ggn(J, Lam, weights):
    """Generalised Gauss–Newton Σ_i w_i J_iᵀ Λ_i J_i (P, P).  J (n, k, P), Λ (n, k, k), w (n,)."""
    n, k, P = J.shape
    LJ = np.einsum("n,nkl,nlp->nkp", weights, Lam, J)
    return J.reshape(n * k, P).T @ LJ.reshape(n * k, P)


def ggn_diagonal(J, Lam, weights):
    """diag(Σ_i w_i J_iᵀ Λ_i J_i) (P,), without forming the P × P matrix."""
    return np.einsum("n,nkp,nkl,nlp->p", weights, J, Lam, J)


class FullPrecision:
    """S as a dense P × P matrix, Cholesky-factored once: S = L Lᵀ."""

    kind = "full"

    def __init__(self, S, chol=None):
        self.S = np.asarray(S, dtype=float)
        if chol is None:
            try:
                chol = np.linalg.cholesky(self.S)
            except np.linalg.LinAlgError:
                raise ValueError("the precision S is not positive definite; "
                                 "use delta > 0 or a curvature structure that is") from None
        self.L = chol

    def solve(self, B):
        return cho_solve((self.L, True), B)

    def variances(self, J):
        """V_i = J_i S⁻¹ J_iᵀ = (L⁻¹J_iᵀ)ᵀ(L⁻¹J_iᵀ); one triangular solve for all n·k rows."""
        n, k, P = J.shape
        A = solve_triangular(self.L, J.reshape(n * k, P).T, lower=True).T.reshape(n, k, P)
        return np.einsum("nkp,nlp->nkl", A, A)

    def matrix(self):
        return self.S


class DiagonalPrecision:
    """S ≈ diag(s): what diagonal Newton, Adam or diagonal VON give for free."""

    kind = "diag"

    def __init__(self, s):
        self.s = np.asarray(s, dtype=float)
        if self.s.ndim != 1 or not np.all(np.isfinite(self.s)) or np.any(self.s <= 0):
            raise ValueError("a diagonal precision must be a finite, positive vector (P,)")

    def solve(self, B):
        return B / (self.s[:, None] if B.ndim == 2 else self.s)

    def variances(self, J):
        return np.einsum("nkp,p,nlp->nkl", J, 1.0 / self.s, J)

    def matrix(self):
        return np.diag(self.s)


def as_precision(value):
    """Accept a precision object, a dense (P, P) matrix or a diagonal (P,) vector."""
    if hasattr(value, "solve") and hasattr(value, "variances"):
        return value
    value = np.asarray(value, dtype=float)
    if value.ndim == 1:
        return DiagonalPrecision(value)
    if value.ndim == 2 and value.shape[0] == value.shape[1]:
        return FullPrecision(value)
    raise ValueError(f"a precision must be a (P, P) matrix or a (P,) diagonal; got shape {value.shape}")


def full(model, J, Lam):
    """S = Σ_i w_i J_iᵀΛ_iJ_i + δI, reusing the factorisation the fit made at theta_ if any."""
    cache = getattr(model, "_precision_cache", None)
    if cache is not None and np.array_equal(cache[0], model.theta_):
        return FullPrecision(cache[1], chol=cache[2])
    return FullPrecision(ggn(J, Lam, model.weights_) + model.delta * np.eye(J.shape[2]))


def diag(model, J, Lam):
    """S ≈ diag(GGN) + δ."""
    return DiagonalPrecision(ggn_diagonal(J, Lam, model.weights_) + model.delta)


STRUCTURES = {"full": full, "diag": diag, "kfac": kfac, "last_layer": last_layer}
MLP_ONLY = ("kfac", "last_layer")


def build_precision(structure, model, J, Lam):
    """The precision of the given structure name for a fitted model."""
    if structure not in STRUCTURES:
        valid = sorted(STRUCTURES) + [s for s in MLP_ONLY if s not in STRUCTURES]
        raise ValueError(f"unknown curvature structure {structure!r}; valid: {valid}")
    if structure in MLP_ONLY and not hasattr(model, "layer_slices"):
        raise ValueError(f"structure {structure!r} applies to the MLP only; use 'full' or 'diag'")
    return STRUCTURES[structure](model, J, Lam)
