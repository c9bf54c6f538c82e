"""The Memory-Perturbation Equation for a fitted model (mpe-math §2–§5, §8).

Perturbing example i's weight w_i → w_i' (Δ = w_i' − w_i; removal Δ = −1, duplication Δ = +1)
changes the parameters and the outputs by

    Δθ   = −Δ (S + Δ H_i)⁻¹ g_i        = −S⁻¹J_iᵀ u_i          ("mpe", the finite form, §4)
    Δf_i = −Δ V_i (I + Δ Λ_i V_i)⁻¹ e_i = −V_i u_i              (§5)
    with u_i = (I + Δ Λ_i V_i)⁻¹ Δ e_i                          (the Woodbury form)

and to first order ("influence") u_i = Δ e_i. Groups M stack their rows: V becomes the cross
variance J_M S⁻¹ J_Mᵀ and Λ the block diagonal of Δ_j Λ_j. Each formula is one short function
below; ``Sensitivity`` applies them to all n examples at once.
"""
import warnings

import numpy as np
from scipy.linalg import block_diag

from .curvature import as_precision, build_precision

METHODS = ("mpe", "influence")


class PerturbationWarning(UserWarning):
    """The perturbed precision is not positive definite; the first-order form was used instead."""


# ---- the equations -------------------------------------------------------------------------
def memory(J_i, e_i, Lam_i, m):
    """λ̃_i = (H_i m − g_i, −H_i/2): what example i contributes to the posterior's natural
    parameters (§2), with g_i = J_iᵀ e_i and H_i = J_iᵀ Λ_i J_i.  J_i (k, P), e_i (k,), Λ_i (k, k)."""
    H = J_i.T @ Lam_i @ J_i
    return H @ m - J_i.T @ e_i, -0.5 * H


def woodbury_errors(V, Lam, e, dw, method="mpe"):
    """u = (I + Δ Λ V)⁻¹ Δ e  (mpe)  or  u = Δ e  (influence); batched over leading axes.

    V, Λ (..., k, k), e (..., k); dw, the weight change, broadcastable to e (one Δ per output
    row, so a group can mix removals and up-weightings). Returns u (..., k) and a boolean ``ok``
    (...) that is False where I + ΔΛV — equivalently the perturbed precision S + ΔH — is not
    positive definite (§4: possible with an approximate S); there u falls back to Δ e."""
    r = dw * e
    ok = np.ones(r.shape[:-1], dtype=bool)
    if method == "influence":
        return r, ok
    M = np.eye(V.shape[-1]) + np.broadcast_to(dw, e.shape)[..., :, None] * (Lam @ V)
    if M.shape[-1] == 1:     # k = 1: M = 1 + Δβv is its own eigenvalue and the solve a division
        ok = M[..., 0, 0] > 1e-8
        return np.where(ok[..., None], r / np.where(ok, M[..., 0, 0], 1.0)[..., None], r), ok
    # S + ΔH ≻ 0  ⇔  every eigenvalue of ΔΛV exceeds −1 (they are real: ΛV is similar to a
    # symmetric matrix). A small margin keeps near-singular cases on the safe side.
    ok = np.linalg.eigvals(M).real.min(axis=-1) > 1e-8
    u = r.copy()
    u[ok] = np.linalg.solve(M[ok], r[ok][..., None])[..., 0]
    return u, ok


def pred_change_from(V, u):
    """Δf = −V u  (§5).  V (..., k, k), u (..., k)."""
    return -np.einsum("...kl,...l->...k", V, u)


def param_change_from(SinvJT, u):
    """Δθ = −S⁻¹ Jᵀ u  (§4).  S⁻¹Jᵀ (P, k) or (n, P, k), u (k,) or (n, k)."""
    return -np.einsum("...pk,...k->...p", SinvJT, u)


# ---- the estimator ---------------------------------------------------------------------------
class Sensitivity:
    """MPE estimates for a fitted model: per-example errors, curvatures and prediction variances,
    parameter and prediction changes for any re-weighting, and leave-one-out quantities.

    structure: "full" (S = GGN + δI), "diag", and for the MLP "kfac" / "last_layer"; or a precision
    given directly (a (P, P) matrix, a (P,) diagonal, or a precision object) — e.g. the one an
    optimiser carries during training (§7).
    """

    def __init__(self, model, structure="full"):
        model._check_fitted()
        self.model = model
        self.jacobians_ = model.jacobians()                 # J_i  (n, k, P)
        self.errors_ = model.errors()                       # e_i  (n, k)
        self.curvatures_ = model.curvatures()               # Λ_i  (n, k, k)
        self.outputs_ = model.train_outputs()               # f_i  (n, k)
        if isinstance(structure, str):
            self.structure = structure
            self.precision_ = build_precision(structure, model, self.jacobians_, self.curvatures_)
        else:
            self.structure = "given"
            self.precision_ = as_precision(structure)
            P = self.jacobians_.shape[2]
            if getattr(self.precision_, "s", getattr(self.precision_, "S", np.zeros(P))).shape[0] != P:
                raise ValueError(f"the given precision does not match the model's {P} parameters")
        self._variances = None
        self._groups = {}

    @property
    def variances_(self):
        """V_i = J_i S⁻¹ J_iᵀ (n, k, k), the prediction variances (computed once)."""
        if self._variances is None:
            self._variances = self.precision_.variances(self.jacobians_)
        return self._variances

    @property
    def n_examples(self):
        return self.jacobians_.shape[0]

    # ---- one example or one group ------------------------------------------------------
    def param_change(self, i, weight=0.0, method="mpe"):
        """Δθ (P,) when example i's weight becomes ``weight`` (0 removes it, 2 duplicates it).
        ``i`` may be an index array (the group form) with a scalar or per-member weight."""
        return self._group_change(i, weight, method)[0]

    def pred_change(self, i, weight=0.0, method="mpe"):
        """Δf_i (k,) for a single i; (m, k) for the members of a group i (m,)."""
        d_f = self._group_change(i, weight, method)[1]
        return d_f[0] if np.ndim(i) == 0 else d_f

    def perturbed_model(self, i, weight=0.0, method="mpe"):
        """The model with θ* + Δθ: the MPE's prediction of what a refit would give."""
        return self.model.with_theta(self.model.theta_ + self.param_change(i, weight, method))

    def _group_change(self, i, weight, method):
        idx, dw = self._check_perturbation(i, weight, method)
        m, k = len(idx), self.jacobians_.shape[1]
        SinvJT, VMM, D = self._group_parts(idx)
        u, ok = woodbury_errors(VMM, D, self.errors_[idx].ravel(), np.repeat(dw, k), method)
        if not ok:
            self._warn(idx)
        return param_change_from(SinvJT, u), pred_change_from(VMM, u).reshape(m, k)

    def _group_parts(self, idx):
        """What a group's estimate needs that does not depend on the weight — S⁻¹J_Mᵀ (P, mk),
        V_MM = J_M S⁻¹ J_Mᵀ (mk, mk) and the block diagonal of the Λ_j — kept for the last few
        groups, so that moving a weight slider costs one small solve, not a solve with S."""
        key = idx.tobytes()
        if key not in self._groups:
            (n, k, P), m = self.jacobians_.shape, len(idx)
            JM = self.jacobians_[idx].reshape(m * k, P)
            SinvJT = self.precision_.solve(JM.T)                 # S⁻¹ J_Mᵀ (P, mk)
            VMM = JM @ SinvJT                                    # J_M S⁻¹ J_Mᵀ (mk, mk)
            if len(self._groups) >= 64:
                self._groups.pop(next(iter(self._groups)))
            self._groups[key] = (SinvJT, VMM, block_diag(*self.curvatures_[idx]))
        return self._groups[key]

    # ---- all examples at once ----------------------------------------------------------
    def pred_changes(self, weight=0.0, method="mpe"):
        """Δf_i (n, k) when each example i ALONE gets the new weight (n separate perturbations)."""
        dw = self._all_dw(weight, method)[:, None]
        u, ok = woodbury_errors(self.variances_, self.curvatures_, self.errors_, dw, method)
        if not ok.all():
            self._warn(np.flatnonzero(~ok))
        return pred_change_from(self.variances_, u)

    def param_changes(self, weight=0.0, method="mpe"):
        """Δθ (n, P) when each example i alone gets the new weight (statsmodels' ``params_one``
        minus ``params`` for weight 0)."""
        dw = self._all_dw(weight, method)[:, None]
        n, k, P = self.jacobians_.shape
        # J_i S⁻¹ for all rows at once (S is symmetric, so this is (S⁻¹J_iᵀ)ᵀ), kept row-major
        JS = self.precision_.solve(self.jacobians_.reshape(n * k, P).T).T.reshape(n, k, P)
        # V_i = (J_i S⁻¹) J_iᵀ from that solve, unless the variances are already known
        V = self._variances
        if V is None:
            V = np.einsum("nkp,nlp->nkl", JS, self.jacobians_)
        u, ok = woodbury_errors(V, self.curvatures_, self.errors_, dw, method)
        if not ok.all():
            self._warn(np.flatnonzero(~ok))
        if k == 1:                       # −S⁻¹J_iᵀ u_i in row i, written into JS (no new n×P array)
            return np.multiply(JS[:, 0, :], -u, out=JS[:, 0, :])
        return -np.einsum("nkp,nk->np", JS, u)

    def loo_outputs(self, method="mpe"):
        """Estimated f_i^{\\i} (n, k): each example's output after removing it."""
        return self.outputs_ + self.pred_changes(0.0, method)

    def loo_nll(self, method="mpe"):
        """ℓ(y_i, f_i^{\\i}) (n,): the estimated leave-one-out loss of each example."""
        return self.model.likelihood.nll(self.model.y_, self.loo_outputs(method))

    def loo_loss(self, method="mpe"):
        """Estimated leave-one-out loss (§8): mean NLL for classifiers, mean squared error for
        regression."""
        if self.model.task == "regression":
            return float(np.mean((self.model.y_ - self.loo_outputs(method)[:, 0]) ** 2))
        return float(np.mean(self.loo_nll(method)))

    def deviations(self, method="mpe"):
        """Sensitivity of each example (n,): the estimated change of its own prediction when it is
        removed — Σ_c |p_c(f_i + Δf_i) − p_c(f_i)| for classifiers (the paper's deviation), |Δf_i|
        for regression."""
        f, f_loo = self.outputs_, self.loo_outputs(method)
        lik = self.model.likelihood
        if self.model.task == "regression":
            return np.abs(f_loo - f).sum(axis=1)
        return np.abs(lik.probabilities(f_loo) - lik.probabilities(f)).sum(axis=1)

    @property
    def hat_matrix_diag(self):
        """tr(Λ_i V_i) (n,): β_i v_i for k = 1, statsmodels' ``hat_matrix_diag`` (leverage)."""
        return np.einsum("nkl,nlk->n", self.curvatures_, self.variances_)

    @property
    def params_one(self):
        """θ* + Δθ for removing each example (n, P): Pregibon's one-step deletion estimate."""
        return self.model.theta_ + self.param_changes(0.0)

    def cooks_distance(self, scale=1.0):
        """Cook's distance (n,): Δθ_iᵀ (S − δI) Δθ_i / (P · scale) for removal. For linear
        regression with δ = 0, noise_var = 1 and scale = s², this is the classical one."""
        d = self.param_changes(0.0)
        S = self.precision_.matrix() - self.model.delta * np.eye(d.shape[1])
        return np.einsum("np,pq,nq->n", d, S, d) / (d.shape[1] * scale)

    # ---- validation --------------------------------------------------------------------
    def _check_perturbation(self, i, weight, method):
        if method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}; got {method!r}")
        n = self.n_examples
        idx = np.atleast_1d(np.asarray(i))
        if idx.dtype.kind not in "iu" or idx.ndim != 1 or len(idx) == 0:
            raise ValueError(f"i must be an example index or a 1-D array of indices; got {i!r}")
        if np.any(idx < 0) or np.any(idx >= n):
            raise ValueError(f"example index out of range: the model has {n} training examples; got {i!r}")
        if len(np.unique(idx)) != len(idx):
            raise ValueError("a group must not list an example twice")
        w_new = np.broadcast_to(np.asarray(weight, dtype=float), idx.shape)
        if not np.all(np.isfinite(w_new)) or np.any(w_new < 0):
            raise ValueError(f"weight must be a finite number >= 0 (0 removes the example); got {weight!r}")
        return idx, w_new - self.model.weights_[idx]

    def _all_dw(self, weight, method):
        if method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}; got {method!r}")
        weight = float(weight)
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weight must be a finite number >= 0 (0 removes the example); got {weight}")
        return weight - self.model.weights_

    @staticmethod
    def _warn(idx):
        shown = ", ".join(map(str, idx[:10])) + (" …" if len(idx) > 10 else "")
        warnings.warn(f"the perturbed precision is not positive definite for example(s) {shown}; "
                      "using the first-order (influence) estimate there", PerturbationWarning,
                      stacklevel=3)
