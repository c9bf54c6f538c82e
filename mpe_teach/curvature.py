"""Posterior precisions S and the prediction variances they imply (mpe-math §2, §6).

A precision object answers two questions, vectorised over examples:
    solve(B)      S⁻¹ B                         B (P, m)
    variances(J)  V_i = J_i S⁻¹ J_iᵀ            J (n, k, P) → (n, k, k)
``build_precision(structure, ...)`` makes one from a fitted model's Jacobians and curvatures.
"""
import numpy as np
from scipy.linalg import blas, cholesky
from threadpoolctl import ThreadpoolController

from .mlp_curvature import kfac, last_layer


def ggn(J, Lam, weights):
    """Generalised Gauss–Newton Σ_i w_i J_iᵀ Λ_i J_i (P, P).  J (n, k, P), Λ (n, k, k), w (n,)."""
    n, k, P = J.shape
    LJ = (weights[:, None, None] * Lam) @ J                  # w_i Λ_i J_i  (n, k, P)
    return J.reshape(n * k, P).T @ LJ.reshape(n * k, P)


def ggn_diagonal(J, Lam, weights):
    """diag(Σ_i w_i J_iᵀ Λ_i J_i) (P,), without forming the P × P matrix."""
    return np.einsum("n,nkp,nkl,nlp->p", weights, J, Lam, J)


_CONTROLLER = None


def _single_threaded_blas():
    """A context in which BLAS runs on one thread. For the small products of the small-P path,
    waking a second BLAS thread costs more than the product (measured 2.5x slower on 2 cores)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


class FullPrecision:
    """S as a dense P × P matrix, Cholesky-factored once: S = L Lᵀ."""

    kind = "full"

    def __init__(self, S, chol=None):
        self.S = np.asarray(S, dtype=float)
        if chol is None:
            try:
                chol = cholesky(self.S, lower=True)
            except np.linalg.LinAlgError:
                raise ValueError("the precision S is not positive definite; "
                                 "use delta > 0 or a curvature structure that is") from None
        self.L = chol

    # For small P, S⁻¹ itself is cheap (P³) and one matrix product with it beats triangular
    # solves against many right-hand sides (measured 6x for n = 5000, P = 51); for large P the
    # triangular solves win.
    SMALL_P = 512

    def inverse(self):
        """S⁻¹ (P, P), computed once from the Cholesky factor."""
        if getattr(self, "_inverse", None) is None:
            self._inverse = self.solve(np.eye(self.L.shape[0]), triangular=True)
        return self._inverse

    def _use_inverse(self, n_rhs):
        P = self.L.shape[0]
        return P <= self.SMALL_P and n_rhs >= P

    def solve(self, B, triangular=False):
        """S⁻¹B for B (P,) or (P, m), as (BᵀL⁻ᵀ)L⁻¹ transposed (S is symmetric)."""
        if not triangular and B.ndim == 2 and self._use_inverse(B.shape[1]):
            with _single_threaded_blas():
                return (B.T @ self.inverse()).T      # row-major (BᵀS⁻¹), as the callers read it
        Bt = np.atleast_2d(B.T)                                   # (m, P)
        X = blas.dtrsm(1.0, self.L, Bt, side=1, lower=1, trans_a=1)   # Bᵀ L⁻ᵀ
        X = blas.dtrsm(1.0, self.L, X, side=1, lower=1, trans_a=0)    # Bᵀ L⁻ᵀ L⁻¹ = Bᵀ S⁻¹
        return X.T.reshape(B.shape)

    def variances(self, J):
        """V_i = J_i S⁻¹ J_iᵀ = (J_i L⁻ᵀ)(J_i L⁻ᵀ)ᵀ; one triangular solve for all n·k rows
        (from the right, J L⁻ᵀ, faster than L⁻¹Jᵀ), or one product with S⁻¹ when P is small."""
        n, k, P = J.shape
        if self._use_inverse(n * k):
            with _single_threaded_blas():
                JS = (J.reshape(n * k, P) @ self.inverse()).reshape(n, k, P)
            return JS @ J.transpose(0, 2, 1)
        A = blas.dtrsm(1.0, self.L, J.reshape(n * k, P), side=1, lower=1, trans_a=1).reshape(n, k, P)
        return A @ A.transpose(0, 2, 1)

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
