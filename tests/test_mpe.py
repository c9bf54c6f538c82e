"""The MPE (mpe-math §2–§5) against independent references: exact refits and closed-form ridge
solutions, scikit-learn's leave-one-out RidgeCV, statsmodels' OLS and GLM influence measures,
autograd Newton steps, and retraining for logistic, softmax and MLP models."""
import warnings

import numpy as np
import pytest
import sklearn
import statsmodels.api as sm
from autograd import grad, hessian
from conftest import binary_problem, multiclass_problem, regression_problem
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import RidgeCV
from statsmodels.stats.outliers_influence import OLSInfluence

from mpe_teach import (MLP, LinearRegression, LogisticRegression, PerturbationWarning,
                       Sensitivity, SoftmaxRegression)
from mpe_teach import datasets
from mpe_teach.curvature import DiagonalPrecision
from mpe_teach.mpe import memory


def _phi(X, fit_intercept=True):
    return np.hstack([np.ones((X.shape[0], 1)), X]) if fit_intercept else X


def _ridge(Phi, y, w, delta, noise_var):
    """The exact weighted ridge solution, solved from scratch: (ΦᵀWΦ/σ² + δI)⁻¹ ΦᵀWy/σ²."""
    A = Phi.T @ (w[:, None] * Phi) / noise_var + delta * np.eye(Phi.shape[1])
    return np.linalg.solve(A, Phi.T @ (w * y) / noise_var)


def _refit_all(model, weight):
    """Ground truth: retrain once per example with that example's weight set to ``weight``.
    Returns the true Δθ (n, P) and Δf_i (n, k)."""
    f0, n = model.train_outputs(), len(model.weights_)
    d_theta, d_f = [], []
    for i in range(n):
        w = model.weights_.copy()
        w[i] = weight
        new = model.refit(w)
        d_theta.append(new.theta_ - model.theta_)
        d_f.append(new.train_outputs()[i] - f0[i])
    return np.array(d_theta), np.array(d_f)


# ---- linear regression: the MPE is exact ----------------------------------------------------
@settings(max_examples=60, deadline=None, derandomize=True)
@given(n=st.integers(4, 30), d=st.integers(1, 5), fit_intercept=st.booleans(),
       delta=st.floats(0.01, 10.0), noise_var=st.floats(0.05, 5.0), seed=st.integers(0, 2**16),
       data=st.data())
def test_linear_regression_mpe_equals_exact_refit(n, d, fit_intercept, delta, noise_var, seed, data):
    X, y = regression_problem(n=n, d=d, seed=seed)
    w0 = np.random.default_rng(seed + 1).uniform(0.5, 2.0, size=n)
    model = LinearRegression(delta=delta, noise_var=noise_var, fit_intercept=fit_intercept)
    model.fit(X, y, weights=w0)
    sens = Sensitivity(model)
    Phi = _phi(X, fit_intercept)
    size = data.draw(st.integers(1, min(n, 4)), label="group size")
    idx = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=size, max_size=size,
                                      unique=True), label="indices"))
    new_w = np.array(data.draw(st.lists(st.floats(0.0, 5.0), min_size=size, max_size=size),
                               label="new weights"))
    w = w0.copy()
    w[idx] = new_w
    exact = _ridge(Phi, y, w, delta, noise_var) - model.theta_
    scale = max(1.0, np.abs(exact).max(), np.abs(model.theta_).max())
    est = sens.param_change(idx, new_w)
    np.testing.assert_allclose(est, exact, rtol=1e-7, atol=1e-9 * scale)
    np.testing.assert_allclose(sens.pred_change(idx, new_w), (Phi[idx] @ exact)[:, None],
                               rtol=1e-7, atol=1e-9 * scale)
    # single example, scalar call, against the warm-started refit as well
    i, wi = int(idx[0]), float(new_w[0])
    w1 = w0.copy()
    w1[i] = wi
    truth = model.refit(w1)
    np.testing.assert_allclose(model.theta_ + sens.param_change(i, wi), truth.theta_,
                               rtol=1e-7, atol=1e-9 * scale)
    np.testing.assert_allclose(sens.pred_change(i, wi), truth.train_outputs()[i] - sens.outputs_[i],
                               rtol=1e-7, atol=1e-9 * scale)
    np.testing.assert_allclose(sens.perturbed_model(i, wi).theta_, truth.theta_, rtol=1e-7,
                               atol=1e-9 * scale)


def _ridgecv(alpha, scoring):
    key = "store_cv_results" if tuple(map(int, sklearn.__version__.split(".")[:2])) >= (1, 5) \
        else "store_cv_values"
    return RidgeCV(alphas=[alpha], fit_intercept=False, scoring=scoring, **{key: True})


def _cv_values(ridge):
    return ridge.cv_results_ if hasattr(ridge, "cv_results_") else ridge.cv_values_


@pytest.mark.parametrize("delta, noise_var", [(0.5, 1.0), (2.0, 0.3), (0.05, 4.0)])
def test_linear_loo_outputs_equal_sklearn_ridgecv(delta, noise_var):
    X, y = regression_problem(n=35, d=4, seed=20)
    model = LinearRegression(delta=delta, noise_var=noise_var).fit(X, y)
    loo = Sensitivity(model).loo_outputs()[:, 0]
    Phi = _phi(X)          # our intercept is penalised: give RidgeCV the column of ones
    # RidgeCV minimises ||y − Φθ||² + α||θ||², i.e. our L × 2σ² with α = δσ². With a scoring
    # given, cv_results_ holds the leave-one-out predictions; with scoring=None, squared errors.
    preds = _cv_values(_ridgecv(delta * noise_var, "neg_mean_squared_error").fit(Phi, y))[:, 0]
    np.testing.assert_allclose(loo, preds, rtol=1e-9, atol=1e-10)
    sq = _cv_values(_ridgecv(delta * noise_var, None).fit(Phi, y))[:, 0]
    np.testing.assert_allclose((y - loo) ** 2, sq, rtol=1e-8, atol=1e-12)
    assert Sensitivity(model).loo_loss() == pytest.approx(sq.mean(), rel=1e-9)
    # and against deleting each row and solving from scratch
    brute = [Phi[i] @ _ridge(np.delete(Phi, i, 0), np.delete(y, i), np.ones(34), delta, noise_var)
             for i in range(35)]
    np.testing.assert_allclose(loo, brute, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("noise_var", [1.0, 2.3])
def test_linear_leverage_and_loo_residuals_match_statsmodels(noise_var):
    X, y = regression_problem(n=30, d=3, seed=21)
    model = LinearRegression(delta=0.0, noise_var=noise_var).fit(X, y)
    sens = Sensitivity(model)
    ols = sm.OLS(y, sm.add_constant(X)).fit()
    infl = OLSInfluence(ols)
    np.testing.assert_allclose(model.theta_, ols.params, rtol=1e-10, atol=1e-12)
    h = infl.hat_matrix_diag
    np.testing.assert_allclose(sens.hat_matrix_diag, h, rtol=1e-10, atol=1e-13)
    # the classical leave-one-out residual y_i − f_i^{\i} = (y_i − f_i)/(1 − h_ii)
    resid = y - sens.outputs_[:, 0]
    np.testing.assert_allclose(y - sens.loo_outputs()[:, 0], resid / (1 - h), rtol=1e-9, atol=1e-12)
    # statsmodels' own deletion residuals (externally studentised uses them too)
    np.testing.assert_allclose(y - sens.loo_outputs()[:, 0], infl.resid_press, rtol=1e-9, atol=1e-12)


def test_linear_cooks_distance_matches_statsmodels():
    X, y = regression_problem(n=30, d=3, seed=22)
    X[4] += 4.0                                     # one high-leverage point
    model = LinearRegression(delta=0.0, noise_var=1.0).fit(X, y)
    ols = sm.OLS(y, sm.add_constant(X)).fit()
    cooks = OLSInfluence(ols).cooks_distance[0]
    np.testing.assert_allclose(Sensitivity(model).cooks_distance / ols.mse_resid, cooks,
                               rtol=1e-9, atol=1e-13)
    assert np.argmax(cooks) == 4


# ---- logistic regression at δ = 0: Pregibon's one-step = statsmodels -------------------------
@pytest.fixture(scope="module")
def logistic_unpenalised():
    X, y = binary_problem(n=80, d=2, seed=0)       # overlapping classes: the MLE exists
    model = LogisticRegression(delta=0.0).fit(X, y)
    res = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial()).fit(tol=1e-13)
    return model, res, res.get_influence()


def test_logistic_fit_equals_statsmodels(logistic_unpenalised):
    model, res, _ = logistic_unpenalised
    np.testing.assert_allclose(model.theta_, res.params, rtol=1e-8, atol=1e-10)


def test_logistic_param_change_is_statsmodels_params_one(logistic_unpenalised):
    model, res, infl = logistic_unpenalised
    sens = Sensitivity(model)
    expected = infl.params_one - res.params                      # (n, P)
    assert np.abs(expected).max() > 0.05                          # not a trivially small target
    one_by_one = np.array([sens.param_change(i, 0.0) for i in range(80)])
    np.testing.assert_allclose(one_by_one, expected, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sens.param_changes(0.0), expected, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sens.params_one, infl.params_one, rtol=0, atol=1e-8)


def test_logistic_leverage_and_cooks_match_statsmodels(logistic_unpenalised):
    model, _, infl = logistic_unpenalised
    sens = Sensitivity(model)
    np.testing.assert_allclose(sens.hat_matrix_diag, infl.hat_matrix_diag, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(sens.cooks_distance, infl.cooks_distance[0], rtol=1e-7, atol=1e-12)


# ---- the finite form is one Newton step; the MPE in natural parameters ------------------------
def _newton_step(model, w_new):
    """m' − m = −H(m; w')⁻¹ ∇L(m; w'), both from autograd on the perturbed objective."""
    obj = lambda t: model.objective(t, w_new)                      # noqa: E731
    return -np.linalg.solve(hessian(obj)(model.theta_), grad(obj)(model.theta_))


@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_finite_form_is_one_newton_step_on_the_perturbed_objective(kind):
    if kind == "logistic":
        model = LogisticRegression(delta=0.7).fit(*binary_problem(n=40, d=2, seed=23))
    else:
        model = SoftmaxRegression(delta=0.7).fit(*multiclass_problem(n=40, d=2, k=3, seed=24))
    sens = Sensitivity(model)
    for idx, new in [(3, 0.0), (11, 2.0), (np.array([0, 5, 9]), np.array([0.0, 0.0, 3.0]))]:
        w = model.weights_.copy()
        w[idx] = new
        np.testing.assert_allclose(sens.param_change(idx, new), _newton_step(model, w),
                                   rtol=1e-8, atol=1e-11)
    # first order: Δθ = −Δ S⁻¹ g_i
    S = hessian(lambda t: model.objective(t))(model.theta_)
    g3 = grad(lambda t: model.likelihood_.nll(model.y_[3:4], model.outputs(t, model.X_[3:4]))[0])(model.theta_)
    np.testing.assert_allclose(sens.param_change(3, 0.0, "influence"), np.linalg.solve(S, g3),
                               rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_memory_identity_at_the_optimum(kind):
    """Σ_i w_i λ̃_i + λ_0 = (S m, −S/2), with S the autograd Hessian of L at m = θ* (§2)."""
    if kind == "logistic":
        X, y = binary_problem(n=50, d=3, seed=25)
        model = LogisticRegression(delta=0.4)
    else:
        X, y = multiclass_problem(n=50, d=2, k=4, seed=26)
        model = SoftmaxRegression(delta=0.4)
    w = np.random.default_rng(27).uniform(0.0, 3.0, size=50)
    model.fit(X, y, weights=w)
    m, P = model.theta_, model.n_params_
    J, e, Lam = model.jacobians(), model.errors(), model.curvatures()
    first, second = np.zeros(P), -0.5 * model.delta * np.eye(P)          # λ_0 = (0, −δI/2)
    for i in range(50):
        a, b = memory(J[i], e[i], Lam[i], m)
        first, second = first + w[i] * a, second + w[i] * b
    S = hessian(lambda t: model.objective(t))(m)
    # ||∇L(m)|| ≤ 1e-10 at the fit, so the first component is exact up to that
    np.testing.assert_allclose(first, S @ m, rtol=0, atol=1e-9)
    np.testing.assert_allclose(second, -0.5 * S, rtol=1e-10, atol=1e-12)
    # removing example i by subtracting its memory, then converting back to (m, S), gives the
    # finite-form MPE (§3 → §4)
    sens = Sensitivity(model)
    for i in (0, 17):
        a, b = memory(J[i], e[i], Lam[i], m)
        S_new = -2.0 * (second - w[i] * b)
        m_new = np.linalg.solve(S_new, first - w[i] * a)
        np.testing.assert_allclose(m_new - m, sens.param_change(i, 0.0), rtol=1e-7, atol=1e-10)


# ---- logistic and softmax with δ > 0: estimates against retraining ---------------------------
@pytest.fixture(scope="module")
def logistic_refits():
    model = LogisticRegression(delta=1.0).fit(*binary_problem(n=80, d=2, seed=0))
    return model, {w: _refit_all(model, w) for w in (0.0, 2.0)}


@pytest.fixture(scope="module")
def softmax_refits():
    model = SoftmaxRegression(delta=1.0).fit(*multiclass_problem(n=60, d=2, k=3, seed=0))
    return model, {w: _refit_all(model, w) for w in (0.0, 2.0)}


# measured max |error| (refits to ||∇L|| ≤ 1e-10), true max |Δθ|, |Δf| in brackets:
#                         Δθ mpe   Δθ infl   Δf mpe   Δf infl
# logistic  removal       0.0181   0.0259    0.0331   0.0510   (0.194, 0.397)
# logistic  weight 2      0.0129   0.0200    0.0238   0.0385   (0.148, 0.309)
# softmax   removal       0.0151   0.0276    0.0253   0.0847   (0.189, 0.346)
# softmax   weight 2      0.0102   0.0185    0.0174   0.0502   (0.148, 0.260)
BOUNDS = {("logistic", 0.0): (0.025, 0.045), ("logistic", 2.0): (0.02, 0.035),
          ("softmax", 0.0): (0.02, 0.04), ("softmax", 2.0): (0.015, 0.03)}


@pytest.mark.parametrize("kind", ["logistic", "softmax"])
@pytest.mark.parametrize("weight", [0.0, 2.0])
def test_glm_mpe_tracks_refit_on_every_example(kind, weight, logistic_refits, softmax_refits):
    model, truth = logistic_refits if kind == "logistic" else softmax_refits
    d_theta, d_f = truth[weight]
    sens = Sensitivity(model)
    err = {meth: (np.abs(sens.param_changes(weight, meth) - d_theta).max(),
                  np.abs(sens.pred_changes(weight, meth) - d_f).max())
           for meth in ("mpe", "influence")}
    bound_theta, bound_f = BOUNDS[(kind, weight)]
    assert err["mpe"][0] <= bound_theta and err["mpe"][1] <= bound_f, err
    # the finite form beats first order on this problem
    assert err["mpe"][0] < err["influence"][0] and err["mpe"][1] < err["influence"][1], err
    # the per-example calls agree with the all-at-once ones
    for i in (0, len(d_f) - 1):
        np.testing.assert_allclose(sens.param_change(i, weight), sens.param_changes(weight)[i],
                                   rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(sens.pred_change(i, weight), sens.pred_changes(weight)[i],
                                   rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_group_removal_tracks_refit(kind):
    if kind == "logistic":
        model = LogisticRegression(delta=1.0).fit(*binary_problem(n=80, d=2, seed=0))
    else:
        model = SoftmaxRegression(delta=1.0).fit(*multiclass_problem(n=60, d=2, k=3, seed=0))
    sens = Sensitivity(model)
    group = np.array([2, 9, 14, 30, 41])
    w = model.weights_.copy()
    w[group] = 0.0
    truth = model.refit(w)
    true_theta = truth.theta_ - model.theta_
    true_f = truth.train_outputs()[group] - sens.outputs_[group]
    err = {m: (np.abs(sens.param_change(group, 0.0, m) - true_theta).max(),
               np.abs(sens.pred_change(group, 0.0, m) - true_f).max()) for m in ("mpe", "influence")}
    # measured (refit to ||∇L|| ≤ 1e-10), max |error| of the finite form (first order):
    #   logistic  Δθ 0.0075 (0.0159) of true 0.119;  Δf 0.0202 (0.0584) of true 0.362
    #   softmax   Δθ 0.0046 (0.0088) of true 0.110;  Δf 0.0047 (0.0086) of true 0.115
    assert np.abs(true_theta).max() > 0.1
    assert err["mpe"][0] <= 0.012 and err["mpe"][1] <= 0.03, err
    assert err["mpe"][0] < err["influence"][0], err


def test_wine_softmax_finite_form_clearly_beats_first_order(wine):
    X, y = wine
    model = SoftmaxRegression(delta=1.0).fit(X, y)
    sens = Sensitivity(model)
    d_theta, d_f = _refit_all(model, 0.0)
    err_mpe = np.abs(sens.pred_changes(0.0) - d_f).max()
    err_inf = np.abs(sens.pred_changes(0.0, "influence") - d_f).max()
    # measured: max |Δf| error 0.087 (finite) vs 0.548 (first order); true max |Δf| 1.09
    assert err_mpe <= 0.13
    assert err_mpe <= 0.5 * err_inf
    assert np.abs(sens.param_changes(0.0) - d_theta).max() <= 0.03      # measured 0.020
    # the paper's deviation Σ_c |p_c(θ^{\i}) − p_c(θ*)|: estimate vs refit
    lik = model.likelihood_
    true_dev = np.abs(lik.probabilities(sens.outputs_ + d_f) - lik.probabilities(sens.outputs_)).sum(1)
    # measured: r = 0.9992, max |error| 0.054 of true max 0.77 (first order: r = 0.983, 0.37)
    assert np.corrcoef(sens.sensitivities(), true_dev)[0, 1] >= 0.99
    assert np.abs(sens.sensitivities() - true_dev).max() <= 0.1


# ---- approximate precisions: warning and fallback -------------------------------------------
def test_diagonal_equals_full_when_the_ggn_is_diagonal():
    rng = np.random.default_rng(28)
    Q, _ = np.linalg.qr(rng.normal(size=(25, 4)))
    X = Q * np.array([3.0, 1.0, 0.5, 2.0])                  # orthogonal columns, unequal norms
    y = X @ rng.normal(size=4) + 0.2 * rng.normal(size=25)
    model = LinearRegression(delta=0.3, noise_var=0.5, fit_intercept=False).fit(X, y)
    full, diag = Sensitivity(model, "full"), Sensitivity(model, "diag")
    np.testing.assert_allclose(diag.precision_.matrix(), full.precision_.matrix(), atol=1e-12)
    np.testing.assert_allclose(diag.variances_, full.variances_, rtol=1e-10, atol=1e-14)
    # an approximate precision defaults to the first-order form; asked for, the finite form
    # with this (here exact) diagonal reproduces the full one and the exact refit
    assert diag.resolve_method("auto") == "influence" and full.resolve_method("auto") == "mpe"
    for weight in (0.0, 2.5):
        np.testing.assert_allclose(diag.param_changes(weight, "mpe"), full.param_changes(weight),
                                   rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose(diag.pred_changes(weight, "mpe"), full.pred_changes(weight),
                                   rtol=1e-9, atol=1e-13)
    exact = _ridge(X, y, np.where(np.arange(25) == 6, 0.0, 1.0), 0.3, 0.5) - model.theta_
    np.testing.assert_allclose(diag.param_change(6, 0.0, "mpe"), exact, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(diag.param_changes(0.0), full.param_changes(0.0, "influence"),
                               rtol=1e-9, atol=1e-13)


def test_diagonal_is_not_full_in_general():
    model = LogisticRegression(delta=1.0).fit(*binary_problem(n=40, d=2, seed=29))
    full, diag = Sensitivity(model, "full"), Sensitivity(model, "diag")
    np.testing.assert_allclose(np.diag(diag.precision_.matrix()), np.diag(full.precision_.matrix()))
    assert np.abs(diag.variances_ - full.variances_).max() > 1e-3


def test_indefinite_perturbed_precision_warns_and_falls_back_to_first_order():
    model = LogisticRegression(delta=1.0).fit(*binary_problem(n=40, d=2, seed=30))
    J, e, Lam = model.jacobians()[:, 0, :], model.errors()[:, 0], model.curvatures()[:, 0, 0]
    # A deliberately too-small diagonal precision: v_i = Σ_p J_ip² / s_p, chosen so that
    # β_i v_i = Λ_i v_i straddles 1 (removal is then undefined for the examples above 1).
    s = np.full(3, 1.0)
    bv = Lam * (J**2 / s).sum(1)
    s = s * np.median(bv)                                   # half the examples end above 1
    v = (J**2 / s).sum(1)
    bad = Lam * v >= 1.0 - 1e-8
    assert 5 <= bad.sum() <= 35
    sens = Sensitivity(model, DiagonalPrecision(s))
    with pytest.warns(PerturbationWarning, match="near the pole"), \
            pytest.warns(PerturbationWarning, match="first-order"):
        d_f = sens.pred_changes(0.0, "mpe")[:, 0]
    expected = np.where(bad, v * e, v * e / (1.0 - Lam * v))    # removal: Δf = v e/(1 − βv)
    np.testing.assert_allclose(d_f, expected, rtol=1e-10)
    with pytest.warns(PerturbationWarning):
        d_theta = sens.param_changes(0.0, "mpe")
    i_bad, i_good = np.flatnonzero(bad)[0], np.flatnonzero(~bad)[0]
    np.testing.assert_allclose(d_theta[i_bad], J[i_bad] * e[i_bad] / s, rtol=1e-10)   # S⁻¹ g_i
    with pytest.warns(PerturbationWarning, match="near the pole"), \
            pytest.warns(PerturbationWarning, match=f"example\\(s\\) {i_bad};"):
        single = sens.pred_change(int(i_bad), 0.0, "mpe")
    np.testing.assert_allclose(single, [v[i_bad] * e[i_bad]], rtol=1e-10)
    with warnings.catch_warnings():
        # a good example must not fall back (the finite form with this crude S warns of the pole)
        warnings.simplefilter("ignore", PerturbationWarning)
        warnings.filterwarnings("error", message=".*first-order")
        np.testing.assert_allclose(sens.pred_change(int(i_good), 0.0, "mpe"), [expected[i_good]],
                                   rtol=1e-10)
        sens.pred_changes(2.0)                              # up-weighting only adds curvature
        sens.pred_changes(0.0, "influence")


# ---- input checks -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sens():
    return Sensitivity(LogisticRegression(delta=1.0).fit(*binary_problem(n=20, d=2, seed=31)))


@pytest.mark.parametrize("call, match", [
    (lambda s: s.param_change(0, -1.0), "weight must be a finite number >= 0"),
    (lambda s: s.pred_change(0, np.nan), "weight must be a finite number >= 0"),
    (lambda s: s.param_change(np.array([1, 2]), [0.0, -0.5]), "weight must be"),
    (lambda s: s.param_changes(-2.0), "weight must be"),
    (lambda s: s.pred_changes(np.inf), "weight must be"),
    (lambda s: s.param_change(20), "must index the 20 training examples"),
    (lambda s: s.param_change(-1), "must index the 20 training examples"),
    (lambda s: s.param_change(1.5), "index"),
    (lambda s: s.param_change(np.array([], dtype=int)), "index"),
    (lambda s: s.param_change(np.array([[1, 2]])), "index"),
    (lambda s: s.param_change(np.array([3, 3])), "twice"),
    (lambda s: s.param_change(0, 0.0, method="newton"), "method must be one of"),
    (lambda s: s.pred_changes(0.0, method="exact"), "method must be one of"),
    (lambda s: s.loo_outputs(method="nope"), "method must be one of"),
])
def test_bad_perturbations_raise_value_error(sens, call, match):
    with pytest.raises(ValueError, match=match):
        call(sens)


@pytest.mark.parametrize("structure", ["kfac", "last_layer", "nonsense"])
def test_unknown_or_inapplicable_structures_raise_value_error(sens, structure):
    with pytest.raises(ValueError, match=structure):
        Sensitivity(sens.model, structure)


def test_given_precisions_are_checked(sens):
    with pytest.raises(ValueError, match="the model has 3"):
        Sensitivity(sens.model, np.ones(4))
    with pytest.raises(ValueError, match="positive"):
        Sensitivity(sens.model, np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="positive definite"):
        Sensitivity(sens.model, -np.eye(3))
    with pytest.raises(ValueError, match="matrix"):
        Sensitivity(sens.model, np.ones((3, 2)))
    with pytest.raises(ValueError, match="not fitted"):
        Sensitivity(LogisticRegression())
    # a given full precision equal to the model's own reproduces the default estimates
    own = Sensitivity(sens.model, sens.precision_.matrix())
    np.testing.assert_allclose(own.pred_changes(method="mpe"), sens.pred_changes(), rtol=1e-12)


# ---- MLP: the linearised estimate against retraining ----------------------------------------
@pytest.mark.parametrize("problem", ["moons", "blobs"])
def test_mlp_estimates_correlate_with_refit(problem):
    if problem == "moons":
        data = datasets.two_moons(n=100, seed=0)
        model = MLP(hidden=(16,), head="logistic", delta=1.0, seed=0)
        idx = np.arange(0, 100, 3)                          # 34 examples
    else:
        data = datasets.blobs(n=90, seed=0)
        model = MLP(hidden=(8,), head="softmax", delta=1.0, seed=0)
        idx = np.arange(0, 90, 3)                           # 30 examples, 3 outputs each
    model.fit(data.X_train, data.y_train)
    sens = Sensitivity(model)
    est = sens.pred_changes(0.0)[idx]
    f0, true = model.train_outputs(), []
    for i in idx:                                           # refit to max|∇L| ≤ 1e-6
        w = model.weights_.copy()
        w[i] = 0.0
        true.append(model.refit(w).train_outputs()[i] - f0[i])
    true = np.array(true)
    r = np.corrcoef(est.ravel(), true.ravel())[0, 1]
    # measured: moons r = 0.991 (true max |Δf| 0.23); blobs r = 0.969 (true max |Δf| 0.36)
    assert r >= {"moons": 0.95, "blobs": 0.92}[problem], r
    assert np.abs(true).max() > 0.1                         # the removals do move the outputs


# ---- which form by default ------------------------------------------------------------------
def test_the_finite_form_near_its_pole_warns_and_the_default_avoids_it():
    """A diagonal precision far below the true one puts Λv close to 1 for some examples: the
    finite form v e / (1 − Λv) then blows up; asked for, it warns; by default (first order) the
    estimate is v e, which a hand computation confirms."""
    model = LogisticRegression(delta=1.0).fit(*binary_problem(n=40, d=2, seed=31))
    J, e, Lam = model.jacobians()[:, 0, :], model.errors()[:, 0], model.curvatures()[:, 0, 0]
    s = np.full(3, 1.0)
    s = s * np.quantile(Lam * (J**2 / s).sum(1), 0.95) / 0.8     # top 5% of Λv between 0.8 and 1
    v = (J**2 / s).sum(1)
    assert 0.5 < (Lam * v).max() < 1.0
    sens = Sensitivity(model, DiagonalPrecision(s))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                             # the default does not warn
        np.testing.assert_allclose(sens.pred_changes(0.0)[:, 0], v * e, rtol=1e-12)
    with pytest.warns(PerturbationWarning, match="near the pole"):
        finite = sens.pred_changes(0.0, "mpe")[:, 0]
    np.testing.assert_allclose(finite, v * e / (1 - Lam * v), rtol=1e-10)


def test_official_estimator_uses_the_diagonal_of_v():
    """The paper's code: first order with only diag(V_i): Δf_ik = e_ik [V_i]_kk."""
    X, y = multiclass_problem(n=30, d=2, k=3, seed=32)
    sens = Sensitivity(SoftmaxRegression(delta=1.0).fit(X, y))
    V, e = sens.variances_, sens.errors_
    expected = np.einsum("nkk,nk->nk", V, e)
    np.testing.assert_allclose(sens.pred_changes(0.0, "official"), expected, rtol=1e-12)
    np.testing.assert_allclose(sens.pred_change(4, 0.0, "official"), expected[4], rtol=1e-10)
    np.testing.assert_allclose(sens.param_changes(0.0, "official"), sens.param_changes(0.0, "influence"))


def test_woodbury_with_known_eigenvalues_matches_the_eigen_decomposition():
    """A common Δw lets the group form read positive definiteness off eig(ΛV) (kept per group):
    the same u and the same verdict as decomposing I + ΔwΛV, on both sides of the pole."""
    from mpe_teach.mpe import woodbury_u
    rng = np.random.default_rng(3)
    A = rng.normal(size=(6, 6))
    V = A @ A.T / 6
    B = rng.normal(size=(6, 6))
    Lam = B @ B.T / 6
    e = rng.normal(size=6)
    eig = np.linalg.eigvals(Lam @ V)
    for dw in (-1.0, -0.5 / eig.real.max(), -2.0 / eig.real.max(), 0.7, 2.5):
        u, ok = woodbury_u(V, Lam, e, np.full(6, dw))
        u2, ok2 = woodbury_u(V, Lam, e, np.full(6, dw), eig_LV=eig)
        assert bool(ok) == bool(ok2)
        np.testing.assert_allclose(u, u2, atol=1e-12)
    _, ok = woodbury_u(V, Lam, e, np.full(6, -2.0 / eig.real.max()), eig_LV=eig)
    assert not ok                                     # past the pole: not positive definite
