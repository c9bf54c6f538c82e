"""Structured curvatures for the MLP: KFAC and last-layer (mpe-math §6).

Layer l maps a_{l−1} (in) to z_l = a_{l−1} W_l + b_l (out). With the augmented input
ā = [a_{l−1}, 1] the layer's parameters are the rows of [W_l; b_l] ((in+1) × out, row-major,
exactly their order in θ), and the Jacobian of output c factorises:

    J_{ic,l} = ā_i ⊗ d_{ic},       d_{ic} = ∂f_ic/∂z_l   (read off the bias columns of J)

KFAC replaces the layer's GGN block Σ_i w_i Σ_cc' Λ_icc' (ā_iā_iᵀ) ⊗ (d_ic d_ic'ᵀ) by

    A_l ⊗ G_l / N,   A_l = Σ_i w_i ā_iā_iᵀ,   G_l = Σ_i w_i D_iᵀ Λ_i D_i,   N = Σ_i w_i

(D_i: the k × out matrix of the d_ic), drops the blocks between layers, and adds δ exactly in
the eigenbases A = U_A diag(α) U_Aᵀ, G = U_G diag(γ) U_Gᵀ:

    S_l⁻¹ = (U_A ⊗ U_G) diag(1 / (α_a γ_g / N + δ)) (U_A ⊗ U_G)ᵀ

so V_i = Σ_l Σ_{a,g} (U_Aᵀā_i)_a² (U_Gᵀd_ic)_g (U_Gᵀd_ic')_g / (α_a γ_g / N + δ).

Last-layer: only the final layer's parameters are uncertain; its exact GGN block + δI is used
and every other parameter is held fixed (its change is zero).
"""
import numpy as np
from scipy.linalg import cho_solve, solve_triangular

from .curvature import Precision, add_prior, ggn


def _layer_parts(model, J):
    """For each layer: (slice of θ, augmented inputs ā (n, in+1), output gradients (n, k, out))."""
    acts = model.activations(model.X_)
    parts = []
    for sl, a, (n_in, n_out) in zip(model.layer_slices(), acts, model.shapes_):
        dz = J[:, :, sl.stop - n_out:sl.stop]          # ∂f/∂b_l = ∂f/∂z_l
        a_bar = np.hstack([a, np.ones((a.shape[0], 1))])
        parts.append((sl, a_bar, dz))
    return parts


class KFACPrecision(Precision):
    """Block-diagonal Kronecker-factored precision, one block A_l ⊗ G_l / N + δI per layer."""

    def __init__(self, factors, n_params):
        # factors: per layer (slice, U_A, U_G, 1 / (α γᵀ / N + δ))
        self.factors, self.n_params = factors, n_params

    def solve(self, B):
        B = np.asarray(B, dtype=float)
        vector = B.ndim == 1
        B = B[:, None] if vector else B
        out = np.empty_like(B)
        for sl, UA, UG, Minv in self.factors:
            X = B[sl].reshape(UA.shape[0], UG.shape[0], -1)            # (in+1, out, m)
            Xt = np.einsum("ia,iom,og->agm", UA, X, UG) * Minv[:, :, None]
            out[sl] = np.einsum("ia,agm,og->iom", UA, Xt, UG).reshape(-1, B.shape[1])
        return out[:, 0] if vector else out

    def variances(self, J):
        """V_i = Σ_l J_il S_l⁻¹ J_ilᵀ (n, k, k): each layer block of J_i, seen as an (in+1) × out
        matrix, is rotated into the Kronecker eigenbasis (U_Aᵀ J_il U_G) and weighted by 1/(αγ/N + δ)."""
        n, k, _ = J.shape
        V = np.zeros((n, k, k))
        for sl, UA, UG, Minv in self.factors:
            Jt = UA.T @ J[:, :, sl].reshape(n, k, UA.shape[0], UG.shape[0]) @ UG
            V += np.einsum("nkag,ag,nlag->nkl", Jt, Minv, Jt, optimize=True)
        return V

    def matrix(self):
        """The dense P × P block-diagonal matrix (for small models)."""
        S = np.zeros((self.n_params, self.n_params))
        for sl, UA, UG, Minv in self.factors:
            U = np.kron(UA, UG)
            S[sl, sl] = (U * (1.0 / Minv).ravel()) @ U.T
        return S


def kfac(model, J, Lam):
    """The KFAC precision of a fitted MLP from its Jacobians J (n, k, P) and curvatures Λ (n, k, k)."""
    w = model.weights_
    N = w.sum()
    if N <= 0:
        raise ValueError("KFAC needs some example with a positive weight; all weights are 0")
    factors, parts = [], _layer_parts(model, J)
    for sl, a_bar, dz in parts:
        A = np.einsum("n,ni,nj->ij", w, a_bar, a_bar)
        G = np.einsum("n,nko,nkl,nlg->og", w, dz, Lam, dz)
        alpha, UA = np.linalg.eigh(A)
        gamma, UG = np.linalg.eigh(G)
        alpha, gamma = np.clip(alpha, 0, None), np.clip(gamma, 0, None)
        factors.append((sl, UA, UG, 1.0 / (np.outer(alpha, gamma) / N + model.delta)))
    return KFACPrecision(factors, J.shape[2])


class LastLayerPrecision(Precision):
    """Only the last layer's parameters (slice ``sl``) are uncertain: S_LL = its GGN block + δI."""

    def __init__(self, S_last, sl, n_params):
        self.S_last, self.sl, self.n_params = S_last, sl, n_params
        try:
            self.L = np.linalg.cholesky(S_last)
        except np.linalg.LinAlgError:
            raise ValueError("the last layer's precision is not positive definite; use delta > 0") from None

    def solve(self, B):
        """S⁻¹B with every parameter outside the last layer held fixed (zero rows)."""
        B = np.asarray(B, dtype=float)
        out = np.zeros_like(B)
        out[self.sl] = cho_solve((self.L, True), B[self.sl])
        return out

    def variances(self, J):
        n, k, _ = J.shape
        Jl = J[:, :, self.sl]
        A = solve_triangular(self.L, Jl.reshape(n * k, -1).T, lower=True).T.reshape(n, k, -1)
        return np.einsum("nkp,nlp->nkl", A, A)

    def matrix(self):
        raise ValueError("the last-layer precision holds all other parameters fixed (infinite "
                         "precision), so it has no finite P x P matrix; use its S_last block")


def last_layer(model, J, Lam):
    """S_LL = Σ_i w_i J_i,LLᵀ Λ_i J_i,LL + δI over the last layer's parameters only."""
    sl = model.layer_slices()[-1]
    S = add_prior(ggn(J[:, :, sl], Lam, model.weights_), model.prior_precision_[sl])
    return LastLayerPrecision(S, sl, J.shape[2])
