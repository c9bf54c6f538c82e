"""Posterior precisions S and the prediction variances they imply (mpe-math §2, §6).

Every precision object follows one contract (``Precision``), vectorised over examples:
    n_params      P
    solve(B)      S⁻¹ B                         B (P,) or (P, m)
    variances(J)  V_i = J_i S⁻¹ J_iᵀ            J (n, k, P) → (n, k, k)
    matrix()      the dense S (P, P), or a ValueError saying why there is none
    exact         True only for the model's own S = GGN + δI at θ* (the finite form is safe)
``build_precision(structure, model, ...)`` makes one from a fitted model's Jacobians and
curvatures; a fitted GLM already carries its full precision, factorised by the fit
(``model.precision_``), and "full" reuses it.
"""
import numpy as np
from scipy.linalg import blas, cholesky, lapack

from .blas import single_threaded_blas


def ggn(J, Lam, weights):
    """Generalised Gauss–Newton Σ_i w_i J_iᵀ Λ_i J_i (P, P).  J (n, k, P), Λ (n, k, k), w (n,)."""
    n, k, P = J.shape
    LJ = (weights[:, None, None] * Lam) @ J                  # w_i Λ_i J_i  (n, k, P)
    return J.reshape(n * k, P).T @ LJ.reshape(n * k, P)


def ggn_diagonal(J, Lam, weights):
    """diag(Σ_i w_i J_iᵀ Λ_i J_i) (P,), without forming the P × P matrix."""
    return np.einsum("n,nkp,nkl,nlp->p", weights, J, Lam, J)


def add_prior(H, prior):
    """S = H + diag(prior): the posterior precision from a GGN H and the prior precisions (P,)."""
    S = H.copy()
    S[np.diag_indices_from(S)] += prior
    return S


class Precision:
    """The contract every precision follows (see the module docstring)."""

    exact = False

    def solve(self, B):
        raise NotImplementedError

    def variances(self, J):
        raise NotImplementedError

    def matrix(self):
        raise ValueError(f"{type(self).__name__} has no dense matrix")


class FullPrecision(Precision):
    """S as a dense P × P matrix, Cholesky-factored once: S = L Lᵀ. ``exact`` marks the model's
    own GGN + δI at θ* (set by ``full``), for which the finite form of the MPE has no pole."""

    def __init__(self, S, exact=False):
        self.S = np.asarray(S, dtype=float)
        try:
            self.L = cholesky(self.S, lower=True)
        except np.linalg.LinAlgError:
            raise ValueError("the precision S is not positive definite (singular): use delta > 0, "
                             "or remove constant or duplicate features") from None
        self.n_params, self.exact = self.S.shape[0], exact

    def condition_number(self):
        """cond₁(S), LAPACK's estimate from the Cholesky factor (O(P²); computed once)."""
        if getattr(self, "_cond", None) is None:
            rcond, _ = lapack.dpocon(self.L, np.abs(self.S).sum(axis=0).max(), uplo="L")
            self._cond = 1.0 / rcond if rcond > 0 else float("inf")
        return self._cond

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
        """S⁻¹B for B (P,) or (P, m), as (BᵀL⁻ᵀ)L⁻¹ transposed (S is symmetric). ``triangular``
        forces the two triangular solves even where a product with S⁻¹ would be faster."""
        B = np.asarray(B, dtype=float)
        if not triangular and B.ndim == 2 and self._use_inverse(B.shape[1]):
            with single_threaded_blas():
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
            with single_threaded_blas():
                JS = (J.reshape(n * k, P) @ self.inverse()).reshape(n, k, P)
            if k == 1:
                return np.einsum("np,np->n", JS[:, 0], J[:, 0])[:, None, None]
            return JS @ J.transpose(0, 2, 1)
        A = blas.dtrsm(1.0, self.L, J.reshape(n * k, P), side=1, lower=1, trans_a=1).reshape(n, k, P)
        return A @ A.transpose(0, 2, 1)

    def matrix(self):
        return self.S


class DiagonalPrecision(Precision):
    """S ≈ diag(s): what diagonal Newton, Adam or diagonal VON give for free."""

    def __init__(self, s):
        self.s = np.asarray(s, dtype=float)
        if self.s.ndim != 1 or not np.all(np.isfinite(self.s)) or np.any(self.s <= 0):
            raise ValueError("a diagonal precision must be a finite, positive vector (P,)")
        self.n_params = self.s.shape[0]

    def solve(self, B):
        return B / (self.s[:, None] if B.ndim == 2 else self.s)

    def variances(self, J):
        return np.einsum("nkp,p,nlp->nkl", J, 1.0 / self.s, J)

    def matrix(self):
        return np.diag(self.s)


def as_precision(value):
    """Accept a Precision, a dense (P, P) matrix or a diagonal (P,) vector."""
    if isinstance(value, Precision):
        return value
    value = np.asarray(value, dtype=float)
    if value.ndim == 1:
        return DiagonalPrecision(value)
    if value.ndim == 2 and value.shape[0] == value.shape[1]:
        return FullPrecision(value)
    raise ValueError(f"a precision must be a (P, P) matrix or a (P,) diagonal; got shape {value.shape}")


def full(model, J, Lam):
    """S = Σ_i w_i J_iᵀΛ_iJ_i + δI: the factorisation the fit made (``model.precision_``) where
    the model has one, else built from J and Λ."""
    if getattr(model, "precision_", None) is not None:
        return model.precision_
    return FullPrecision(add_prior(ggn(J, Lam, model.weights_), model.prior_precision_), exact=True)


def diag(model, J, Lam):
    """S ≈ diag(GGN) + δ."""
    return DiagonalPrecision(ggn_diagonal(J, Lam, model.weights_) + model.prior_precision_)


STRUCTURES = ("full", "diag", "kfac", "last_layer")
MLP_ONLY = ("kfac", "last_layer")


def build_precision(structure, model, J, Lam):
    """The precision of the given structure name for a fitted model."""
    from . import mlp_curvature          # the layered structures build on the classes above
    builders = {"full": full, "diag": diag, "kfac": mlp_curvature.kfac,
                "last_layer": mlp_curvature.last_layer}
    if structure not in builders:
        raise ValueError(f"unknown curvature structure {structure!r}; valid: {list(STRUCTURES)}")
    if structure in MLP_ONLY and not model.layered:
        raise ValueError(f"structure {structure!r} applies to the MLP only; use 'full' or 'diag'")
    return builders[structure](model, J, Lam)
