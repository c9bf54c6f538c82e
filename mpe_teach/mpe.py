"""The Memory-Perturbation Equation for a fitted model (mpe-math §2–§5, §8).

Changing example i's weight by Δw (removal Δw = −1, duplication Δw = +1) changes the parameters
and the outputs by

    Δθ   = −Δw (S + Δw H_i)⁻¹ g_i        = −S⁻¹J_iᵀ u_i          ("mpe", the finite form, §4)
    Δf_i = −Δw V_i (I + Δw Λ_i V_i)⁻¹ e_i = −V_i u_i              (§5)
    with u_i = (I + Δw Λ_i V_i)⁻¹ Δw e_i                          (``woodbury_u``)

and to first order ("influence", the derivative at Δw = 0) u_i = Δw e_i. The paper's code uses
the first-order form with only the diagonal of V_i ("official"). By default ("auto") the finite
form is used with the model's own precision S = GGN + δI, where S − H_i ⪰ δI keeps it away from
its pole at an eigenvalue of ΛV equal to 1, and the first-order form with an approximate
precision (diagonal, KFAC, an optimiser's running estimate), where that pole can be near.
Each formula is one short function below; ``Sensitivity`` applies them to all n examples at
once, and to groups through ``groups.GroupSolves``.
"""
import warnings
from functools import cached_property

import numpy as np
from scipy.linalg import block_diag

from .blas import single_threaded_blas
from .curvature import as_precision, build_precision
from .groups import GroupSolves
from .validation import (check_choice, check_float, check_fitted_model, check_indices, check_matrix,
                         check_new_weights)

# "mpe": the finite form; "influence": the first-order form; "official": the first-order form
# with only the diagonal of V_i, as the paper's code computes it; "auto": the finite form with
# the model's own precision (S = GGN + δI at θ*, where it has no pole), else the first order.
METHODS = ("auto", "mpe", "influence", "official")
# Warn when the finite form is asked for with an approximate precision and an eigenvalue of
# Λ_iV_i exceeds this: (I − ΛV)⁻¹ has its pole at 1, and such examples dominate any average.
POLE_WARN = 0.5
# Warn when cond(S) · machine epsilon exceeds this: fewer than about 4 digits are left.
LOST_DIGITS_WARN = 1e-4
# The finite form (one Newton step) assumes Λ constant along the step: warn for weight changes
# larger than this, and for separated training data with a prior weaker than WEAK_PRIOR.
LARGE_WEIGHT_CHANGE = 10.0
WEAK_PRIOR = 1e-2


class PerturbationWarning(UserWarning):
    """An estimate is less reliable than usual (see the message), or was replaced by a safe one."""


class FallbackWarning(PerturbationWarning):
    """The perturbed precision is not positive definite: the first-order form was used there
    (or NaN, where the removal leaves the parameters undetermined)."""


# ---- the equations -------------------------------------------------------------------------
def memory(J_i, e_i, Lam_i, m):
    """λ̃_i = (H_i m − g_i, −H_i/2): what example i contributes to the posterior's natural
    parameters (§2), with g_i = J_iᵀ e_i and H_i = J_iᵀ Λ_i J_i.  J_i (k, P), e_i (k,), Λ_i (k, k)."""
    H = J_i.T @ Lam_i @ J_i
    return H @ m - J_i.T @ e_i, -0.5 * H


def woodbury_u(V, Lam, e, dw, method="mpe", eig_LV=None):
    """u = (I + Δw Λ V)⁻¹ Δw e  (mpe)  or  u = Δw e  (influence); batched over leading axes.

    V, Λ (..., k, k), e (..., k); dw, the weight change, broadcastable to e (one Δw per output
    row, so a group can mix removals and up-weightings). Returns u (..., k) and a boolean ``ok``
    (...) that is False where I + ΔwΛV — equivalently the perturbed precision S + ΔwH — is not
    positive definite (§4); there u falls back to Δw e. ``eig_LV`` (optional): the eigenvalues
    of ΛV when V is one (k, k) matrix, so that a common Δw needs no eigen-decomposition: the
    eigenvalues of I + ΔwΛV are then 1 + Δw·eig(ΛV)."""
    r = dw * e
    ok = np.ones(r.shape[:-1], dtype=bool)
    if method in ("influence", "official"):      # first order ("official" differs in Δf's V only)
        return r, ok
    M = np.eye(V.shape[-1]) + np.broadcast_to(dw, e.shape)[..., :, None] * (Lam @ V)
    if M.shape[-1] == 1:     # k = 1: M = 1 + Δwβv is its own eigenvalue and the solve a division
        ok = M[..., 0, 0] > 1e-8
        return np.where(ok[..., None], r / np.where(ok, M[..., 0, 0], 1.0)[..., None], r), ok
    # S + ΔwH ≻ 0  ⇔  every eigenvalue of ΔwΛV exceeds −1 (they are real: ΛV is similar to a
    # symmetric matrix). A small margin keeps near-singular cases on the safe side.
    common = np.ndim(dw) == 0 or np.all(np.asarray(dw) == np.ravel(dw)[0])
    if eig_LV is not None and M.ndim == 2 and common:
        ok = np.asarray((1.0 + np.ravel(dw)[0] * eig_LV.real).min() > 1e-8)
    else:
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

    structure: "full" (S = GGN + δI, the factorisation the fit made where there is one),
    "diag", and for the MLP "kfac" / "last_layer"; or a precision given directly (a (P, P)
    matrix, a (P,) diagonal, or a ``curvature.Precision``) — e.g. an optimiser's (§7).
    """

    def __init__(self, model, structure="full"):
        self.model = check_fitted_model(model)
        lik, y = model.likelihood_, model.y_
        self.jacobians_ = model.jacobians()                 # J_i  (n, k, P)
        self.outputs_ = model.train_outputs()               # f_i  (n, k)
        self.errors_ = lik.errors(y, self.outputs_)         # e_i  (n, k), as model.errors()
        self.curvatures_ = lik.curvatures(y, self.outputs_) # Λ_i  (n, k, k), as model.curvatures()
        P = self.jacobians_.shape[2]
        if isinstance(structure, str):
            self.structure = structure
            self.precision_ = build_precision(structure, model, self.jacobians_, self.curvatures_)
        else:
            self.structure = "given"
            self.precision_ = as_precision(structure)
            if getattr(self.precision_, "n_params", None) != P:
                raise ValueError(f"the given precision is for {getattr(self.precision_, 'n_params', '?')} "
                                 f"parameters; the model has {P}")
        self._groups = GroupSolves(self.jacobians_, self.curvatures_, self.precision_)
        self._warn_if_ill_conditioned()

    @cached_property
    def variances_(self):
        """V_i = J_i S⁻¹ J_iᵀ (n, k, k), the prediction variances."""
        return self.precision_.variances(self.jacobians_)

    @property
    def n_examples(self):
        return self.jacobians_.shape[0]

    # ---- one example or one group ------------------------------------------------------
    def param_change(self, i, weight=0.0, method="auto"):
        """Δθ (P,) when example i's weight becomes ``weight`` (0 removes it, 2 duplicates it).
        ``i`` may be an index array (the group form) with a scalar or per-member weight."""
        return self._group_change(i, weight, method)[0]

    def changes(self, i, weight=0.0, method="auto"):
        """(Δθ (P,), Δf (m, k)) at once: ``param_change`` and ``pred_change`` of a group i (m,)."""
        return self._group_change(i, weight, method)

    def pred_change(self, i, weight=0.0, method="auto"):
        """Δf_i (k,) for a single i; (m, k) for the members of a group i (m,)."""
        d_f = self._group_change(i, weight, method)[1]
        return d_f[0] if np.ndim(i) == 0 else d_f

    def perturbed_model(self, i, weight=0.0, method="auto"):
        """The model with θ* + Δθ: the MPE's prediction of what a refit would give."""
        return self.model.with_theta(self.model.theta_ + self.param_change(i, weight, method))

    def refit(self, i, weight=0.0):
        """The truth for the same perturbation: the model retrained with the new weight(s).
        A convex model (the GLMs) starts at the MPE's prediction θ* + Δθ, closer than θ*; the
        MLP starts at θ*, because from θ* + Δθ it is no faster (measured: 0.99x on digits) and
        can land in another mode than the one the MPE describes."""
        idx = check_indices(i, self.n_examples)
        w = self.model.weights_.copy()
        w[idx] = check_new_weights(weight, idx.shape)
        start = None if self.model.layered else self.model.theta_ + self.param_change(i, weight)
        return self.model.refit(w, warm_start=start)

    def _group_change(self, i, weight, method):
        method = self.resolve_method(method)
        idx = check_indices(i, self.n_examples)
        dw = check_new_weights(weight, idx.shape) - self.model.weights_[idx]
        m, k = len(idx), self.jacobians_.shape[1]
        SinvJT, VMM, LamM = self._groups.parts(idx)
        if method == "mpe":
            self._warn_if_near_pole(VMM[None], LamM[None])
        eig = self._groups.eig_LV(idx) if method == "mpe" and len(idx) > 1 else None
        u, ok = woodbury_u(VMM, LamM, self.errors_[idx].ravel(), np.repeat(dw, k), method, eig)
        V_f = np.diag(np.diag(VMM)) if method == "official" else VMM
        d_theta, d_f = param_change_from(SinvJT, u), pred_change_from(V_f, u).reshape(m, k)
        if not ok:
            d_theta, d_f = self._not_positive_definite(idx, d_theta, d_f)
        self._warn_if_unreliable(dw)
        return d_theta, d_f

    # ---- data the model has not seen: added and moved points ----------------------------
    def point_terms(self, X_new, y_new):
        """What the MPE needs of new examples (x, y), read off the model at θ*:
        J (m, k, P), f (m, k), e (m, k) and Λ (m, k, k)."""
        model = self.model
        X_new = check_matrix("X_new", X_new, n_features=model.n_features_in_)
        y_enc = model.encode_targets(np.asarray(y_new), X_new.shape[0])
        f = model.outputs(model.theta_, X_new)
        lik = model.likelihood_
        return model.jacobians(X_new), f, lik.errors(y_enc, f), lik.curvatures(y_enc, f)

    def data_change(self, members=(), weights=0.0, X_add=None, y_add=None, add_weights=1.0,
                    method="auto"):
        """Δθ (P,) and Δf (m, k) for a change of the DATA: the training examples ``members`` get
        new ``weights``, and new examples (X_add, y_add) enter with ``add_weights`` (their weight
        before is 0). Δf lists the members' outputs first, then the added points'. One group form
        (mpe-math §4): moving example i to x is members=[i], weights=0, X_add=[x], y_add=[y_i],
        the weight changes Δw = −1 and +1; adding a point is X_add, y_add alone."""
        method = self.resolve_method(method)
        k = self.jacobians_.shape[1]
        idx = (np.zeros(0, dtype=int) if np.size(members) == 0
               else check_indices(members, self.n_examples, name="members"))
        J, e, Lam = [self.jacobians_[idx]], [self.errors_[idx]], [self.curvatures_[idx]]
        dw = [check_new_weights(weights, idx.shape) - self.model.weights_[idx]]
        if X_add is not None:
            J_a, _, e_a, Lam_a = self.point_terms(X_add, y_add)
            J.append(J_a), e.append(e_a), Lam.append(Lam_a)
            dw.append(check_new_weights(add_weights, (len(J_a),), name="add_weights"))
        J, e, Lam, dw = (np.concatenate(a) for a in (J, e, Lam, dw))
        m = len(dw)
        if m == 0:
            raise ValueError("data_change needs members or added points")
        JM = J.reshape(m * k, -1)
        SinvJT = self.precision_.solve(JM.T)                             # (P, mk)
        VMM = JM @ SinvJT
        LamM = block_diag(*Lam)
        if method == "mpe" and idx.size:
            self._warn_if_near_pole(VMM[None], LamM[None])
        u, ok = woodbury_u(VMM, LamM, e.ravel(), np.repeat(dw, k), method)
        if not ok:
            warnings.warn("the perturbed precision is not positive definite for this change of "
                          "the data; using the first-order (influence) estimate", FallbackWarning,
                          stacklevel=2)
        V_f = np.diag(np.diag(VMM)) if method == "official" else VMM
        return param_change_from(SinvJT, u), pred_change_from(V_f, u).reshape(m, k)

    def addition_changes(self, X_new, y_new, weight=1.0, method="auto"):
        """Each new example (x_j, y_j) added ALONE with this weight, vectorised over j (a grid):
        Δθ_j (m, P) and the change of its own output Δf_j (m, k). Adding is Δw = +weight, so the
        finite form has no pole: u_j = (I + Δw Λ_jV_j)⁻¹ Δw e_j."""
        method = self.resolve_method(method)
        weight = check_float("weight", weight, low=0.0)
        J, _, e, Lam = self.point_terms(X_new, y_new)
        m, k, P = J.shape
        SinvJT = self.precision_.solve(J.reshape(m * k, P).T).T.reshape(m, k, P).transpose(0, 2, 1)
        V = np.einsum("mkp,mpl->mkl", J, SinvJT)                         # (m, k, k)
        u, _ = woodbury_u(V, Lam, e, np.full((m, k), weight), method)
        V_f = V * np.eye(k) if method == "official" else V
        return param_change_from(SinvJT, u), pred_change_from(V_f, u)

    # ---- all examples at once ----------------------------------------------------------
    def pred_changes(self, weight=0.0, method="auto"):
        """Δf_i (n, k) when each example i ALONE gets the new weight (n separate perturbations)."""
        method = self.resolve_method(method)
        dw = self._all_dw(weight)[:, None]
        if method == "mpe":
            self._warn_if_near_pole(self.variances_, self.curvatures_)
        u, ok = woodbury_u(self.variances_, self.curvatures_, self.errors_, dw, method)
        V = self.variances_
        if method == "official":
            V = np.einsum("nkk->nk", V)[:, :, None] * np.eye(V.shape[1])
        d_f = pred_change_from(V, u)
        if not ok.all():
            d_f = self._not_positive_definite(np.flatnonzero(~ok), None, d_f)[1]
        self._warn_if_unreliable(dw)
        return d_f

    def param_changes(self, weight=0.0, method="auto"):
        """Δθ (n, P) when each example i alone gets the new weight (statsmodels' ``params_one``
        minus ``params`` for weight 0)."""
        method = self.resolve_method(method)
        dw = self._all_dw(weight)[:, None]
        n, k, P = self.jacobians_.shape
        # J_i S⁻¹ for all rows at once (S is symmetric, so this is (S⁻¹J_iᵀ)ᵀ), kept row-major
        JS = self.precision_.solve(self.jacobians_.reshape(n * k, P).T).T.reshape(n, k, P)
        # V_i = (J_i S⁻¹) J_iᵀ from that solve, unless the variances are already known
        V = self.__dict__.get("variances_")
        if V is None:
            with single_threaded_blas():
                V = np.einsum("nkp,nlp->nkl", JS, self.jacobians_)
        u, ok = woodbury_u(V, self.curvatures_, self.errors_, dw, method)
        if k == 1:                       # −S⁻¹J_iᵀ u_i in row i, written into JS (no new n×P array)
            d_theta = np.multiply(JS[:, 0, :], -u, out=JS[:, 0, :])
        else:
            d_theta = -np.einsum("nkp,nk->np", JS, u)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            d_theta[bad] = self._not_positive_definite(bad, d_theta[bad], None)[0]
        return d_theta

    def loo_outputs(self, method="auto"):
        """Estimated f_i^{\\i} (n, k): each example's output after removing it."""
        return self.outputs_ + self.pred_changes(0.0, method)

    def loo_nll(self, method="auto"):
        """ℓ(y_i, f_i^{\\i}) (n,): the estimated leave-one-out loss of each example."""
        return self.model.likelihood_.nll(self.model.y_, self.loo_outputs(method))

    def loo_loss(self, method="auto"):
        """Estimated leave-one-out loss (§8), as the likelihood defines it: the mean NLL, or the
        mean squared error for a Gaussian likelihood."""
        return self.model.likelihood_.loo_loss(self.model.y_, self.loo_outputs(method))

    def sensitivities(self, method="auto"):
        """The sensitivity of each example (n,): how far its own prediction moves when it is
        removed — the likelihood's deviation between f_i and f_i + Δf_i: Σ_c |Δp_ic| for
        classifiers (the paper's deviation), |Δ mean| for regression and counts."""
        return self.model.likelihood_.deviation(self.outputs_, self.loo_outputs(method))

    def report(self, index=None, method="auto"):
        """One row per training example, as a pandas DataFrame (the CLI writes the same table).

        Columns: ``error`` (e_i; ``error_0 … error_{k-1}`` for k > 1 outputs), ``variance``
        (v_i; tr V_i for k > 1), ``sensitivity`` (``sensitivities(method)``), ``loo_output``
        (the estimated f_i^{\\i}; ``loo_output_0 …`` for k > 1) and ``rank`` (1 = the most
        sensitive; ties keep row order). ``index``: the index of the DataFrame the model was
        fitted on (or that DataFrame itself), so rows can be joined back to it; default 0..n−1.
        """
        import pandas as pd        # a dependency, imported here so `import mpe_teach` stays fast

        n, k = self.errors_.shape
        if index is None:
            index = pd.RangeIndex(n, name="row")
        else:
            if isinstance(index, (pd.DataFrame, pd.Series)):
                index = index.index
            index = pd.Index(index)
            if len(index) != n:
                raise ValueError(f"index has {len(index)} entries; the model was fitted on {n} examples")
        loo = self.loo_outputs(method)
        sens = self.sensitivities(method)
        rank = np.empty(n, dtype=np.int64)
        rank[np.argsort(-sens, kind="stable")] = np.arange(1, n + 1)

        def names(base):
            return [base] if k == 1 else [f"{base}_{c}" for c in range(k)]

        columns = {**dict(zip(names("error"), self.errors_.T)),
                   "variance": np.trace(self.variances_, axis1=1, axis2=2),
                   "sensitivity": sens,
                   **dict(zip(names("loo_output"), loo.T)),
                   "rank": rank}
        return pd.DataFrame(columns, index=index)

    # ---- statsmodels' names for the same quantities (computed once) ------------------------
    @cached_property
    def hat_matrix_diag(self):
        """tr(Λ_i V_i) (n,): β_i v_i for k = 1, statsmodels' ``hat_matrix_diag`` (leverage)."""
        return np.einsum("nkl,nlk->n", self.curvatures_, self.variances_)

    @cached_property
    def params_one(self):
        """θ* + Δθ for removing each example (n, P): Pregibon's one-step deletion estimate."""
        return self.model.theta_ + self.param_changes(0.0)

    @cached_property
    def cooks_distance(self):
        """Cook's distance (n,): Δθ_iᵀ (S − δI) Δθ_i / P for removal (statsmodels' GLM
        convention with scale 1). For linear regression divide by the noise variance estimate s²
        (with noise_var = 1 and δ = 0) to get the classical OLS value."""
        d = self.params_one - self.model.theta_
        H = self.precision_.matrix()
        H = H - np.diag(self.model.prior_precision_)
        return np.einsum("np,pq,nq->n", d, H, d) / d.shape[1]

    # ---- validation and warnings ------------------------------------------------------
    def resolve_method(self, method):
        """The form "auto" stands for: the finite form ("mpe") with the model's own precision
        (``precision_.exact``), the first-order form ("influence") with an approximate one."""
        check_choice("method", method, METHODS)
        if method == "auto":
            return "mpe" if self.precision_.exact else "influence"
        return method

    def _warn_if_near_pole(self, V, Lam):
        """With an approximate precision the finite form's (I − ΛV)⁻¹ can come close to its pole."""
        if self.precision_.exact:
            return
        LV = Lam @ V
        top = LV[..., 0, 0] if LV.shape[-1] == 1 else np.linalg.eigvals(LV).real.max(axis=-1)
        near = np.flatnonzero(top > POLE_WARN)
        if near.size:
            warnings.warn(f"the finite form with an approximate precision ({self.structure}): "
                          f"{near.size} example(s) have an eigenvalue of ΛV up to {top.max():.3g}, "
                          "near the pole at 1, where (I − ΛV)⁻¹ blows up; method='influence' "
                          "(the default for approximate precisions) is safer", PerturbationWarning,
                          stacklevel=4)

    def _all_dw(self, weight):
        weight = check_float("weight", weight, low=0.0)
        return weight - self.model.weights_

    def _not_positive_definite(self, idx, d_theta, d_f):
        """Where S + ΔwH is not positive definite. With the model's own S (exact) this only
        happens when removing an example leaves the parameters undetermined (δ = 0 and leverage
        1): there is no answer, so NaN. With an approximate S, the first-order form is used."""
        shown = ", ".join(map(str, idx[:10])) + (" …" if len(idx) > 10 else "")
        if self.precision_.exact:
            warnings.warn(f"removing example(s) {shown} leaves the parameters undetermined (S − H_i "
                          "is singular: leverage 1 with delta = 0); their estimates are NaN",
                          FallbackWarning, stacklevel=3)
            if d_theta is not None:
                d_theta = np.full_like(d_theta, np.nan)
            if d_f is not None:
                d_f = d_f.copy()
                d_f[idx if d_f.shape[0] == self.n_examples else slice(None)] = np.nan
            return d_theta, d_f
        warnings.warn(f"the perturbed precision is not positive definite for example(s) {shown}; "
                      "using the first-order (influence) estimate there", FallbackWarning,
                      stacklevel=3)
        return d_theta, d_f

    def _warn_if_unreliable(self, dw):
        """The finite form is one Newton step: exact when Λ does not change along it. Warn where
        it may be far off: a weight change beyond LARGE_WEIGHT_CHANGE, or a classifier that
        separates its training data with a weak prior (near separation, Λ changes fast)."""
        if self.model.likelihood_.constant_curvature:
            return
        why = None
        if np.abs(dw).max() > LARGE_WEIGHT_CHANGE:
            why = f"a weight change of {np.abs(dw).max():g}"
        elif self._near_separation:
            why = "near separation (the training data are separated and the prior is weak)"
        if why:
            warnings.warn(f"the finite form is approximate here ({why}): the curvature changes "
                          "along the step it assumes straight; check with a refit",
                          PerturbationWarning, stacklevel=3)

    @cached_property
    def _near_separation(self):
        m = self.model
        if not m.likelihood_.is_classifier or m.prior_precision_.max() >= WEAK_PRIOR:
            return False
        seen = m.weights_ > 0
        return bool(np.all(m.likelihood_.predict(self.outputs_)[seen] == m.y_[seen]))

    def _warn_if_ill_conditioned(self):
        cond = getattr(self.precision_, "condition_number", None)
        if cond is None:
            return
        c = cond()
        if c * np.finfo(float).eps > LOST_DIGITS_WARN:
            warnings.warn(f"the precision S is ill-conditioned (condition number {c:.1e}): solves "
                          f"with it lose about {np.log10(c):.0f} of 16 digits, so the estimates may be "
                          "inaccurate; standardise the features or increase delta",
                          PerturbationWarning, stacklevel=3)
