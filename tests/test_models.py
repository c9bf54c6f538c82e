"""The models (mpe-math §1): gradients and curvatures against autograd and finite differences, fits
against closed forms and scikit-learn, weights against duplicated / deleted data, and input checks."""
import warnings

import numpy as np
import pytest
from autograd import grad, hessian, jacobian
from autograd.test_util import check_grads
from conftest import binary_problem, multiclass_problem, regression_problem
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.linear_model import Ridge

from mpe_teach import MLP, LinearRegression, LogisticRegression, Sensitivity, SoftmaxRegression


def _fitted(name):
    """A small fitted model of each kind, with non-uniform weights so that weights matter."""
    if name == "linear":
        X, y = regression_problem(n=30, d=3, seed=1)
        model = LinearRegression(delta=0.3, noise_var=0.5)
    elif name == "logistic":
        X, y = binary_problem(n=40, d=2, seed=2)
        model = LogisticRegression(delta=0.5)
    elif name == "softmax":
        X, y = multiclass_problem(n=45, d=2, k=3, seed=3)
        model = SoftmaxRegression(delta=0.7)
    elif name == "mlp_softmax":
        X, y = multiclass_problem(n=30, d=2, k=3, seed=4)
        model = MLP(hidden=(4,), head="softmax", delta=1.0, seed=0)
    elif name == "mlp_logistic":
        X, y = binary_problem(n=30, d=2, seed=5)
        model = MLP(hidden=(3, 3), head="logistic", activation="tanh", delta=0.5, seed=1)
    else:  # mlp_linear
        X, y = regression_problem(n=30, d=2, seed=6)
        model = MLP(hidden=(4,), head="linear", noise_var=0.3, delta=0.8, seed=2)
    w = np.random.default_rng(7).uniform(0.5, 2.0, size=len(y))
    return model.fit(X, y, weights=w)


ALL = ["linear", "logistic", "softmax", "mlp_softmax", "mlp_logistic", "mlp_linear"]
GLMS = ["linear", "logistic", "softmax"]


def _random_theta(model, seed=0):
    return model.theta_ + 0.3 * np.random.default_rng(seed).normal(size=model.n_params_)


# ---- gradients and curvature ---------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_objective_passes_autograd_check_grads(name):
    model = _fitted(name)
    # compares autograd's reverse-mode gradient of L(θ; w) with finite differences
    check_grads(lambda t: model.objective(t), modes=["rev"], order=1)(_random_theta(model))


@pytest.mark.parametrize("name", ALL)
def test_analytic_gradient_equals_autograd(name):
    """Model.gradient uses J_iᵀ e_i from jacobians()/errors(); autograd differentiates nll."""
    model = _fitted(name)
    theta = _random_theta(model, seed=1)
    expected = grad(lambda t: model.objective(t))(theta)
    np.testing.assert_allclose(model.gradient(theta), expected, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", ALL)
def test_gradient_vanishes_at_the_fit(name):
    model = _fitted(name)
    g = grad(lambda t: model.objective(t))(model.theta_)
    # GLMs: Newton to ||∇L|| ≤ 1e-10; MLP: trust-region Newton-CG to max|∇L| ≤ 1e-6
    assert np.abs(g).max() <= (1e-9 if name in GLMS else 1e-5)


def _fd_hessian(f, theta, h=1e-4):
    """Central finite differences of the objective's values only (no gradients used)."""
    P = len(theta)
    H, E = np.empty((P, P)), np.eye(P) * h
    for a in range(P):
        for b in range(a, P):
            H[a, b] = H[b, a] = (f(theta + E[a] + E[b]) - f(theta + E[a] - E[b])
                                 - f(theta - E[a] + E[b]) + f(theta - E[a] - E[b])) / (4 * h * h)
    return H


@pytest.mark.parametrize("name", GLMS)
def test_glm_ggn_is_the_finite_difference_hessian(name):
    model = _fitted(name)
    theta = _random_theta(model, seed=2)
    S = model.ggn(theta, model.weights_) + model.delta * np.eye(model.n_params_)
    H_fd = _fd_hessian(lambda t: model.objective(t), theta)
    # O(h²) truncation plus ~1e-16·L/h² rounding: measured max abs error 3e-7 (linear),
    # 6e-8 (logistic), 8e-7 (softmax) against entries up to 77; asserted: 5e-5 × max|S|
    np.testing.assert_allclose(S, H_fd, rtol=1e-5, atol=5e-5 * np.abs(S).max())
    # and autograd's exact Hessian agrees to rounding
    np.testing.assert_allclose(S, hessian(lambda t: model.objective(t))(theta), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["mlp_softmax", "mlp_logistic", "mlp_linear"])
def test_mlp_jacobians_equal_autograd_per_example(name):
    model = _fitted(name)
    J = model.jacobians()
    assert J.shape == (30, model.n_outputs_, model.n_params_)
    for i in (0, 7, 29):
        Ji = jacobian(lambda t: model.outputs(t, model.X_[i:i + 1])[0])(model.theta_)
        np.testing.assert_allclose(J[i], Ji, rtol=1e-10, atol=1e-12)
    # at a new input too
    Xnew = np.array([[0.3, -1.2]])
    Jn = jacobian(lambda t: model.outputs(t, Xnew)[0])(model.theta_)
    np.testing.assert_allclose(model.jacobians(Xnew)[0], Jn, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["mlp_softmax", "mlp_logistic", "mlp_linear"])
def test_mlp_full_precision_is_the_ggn_from_autograd(name):
    model = _fitted(name)
    X, P = model.X_, model.n_params_
    S = model.delta * np.eye(P)
    for i in range(X.shape[0]):
        Ji = jacobian(lambda t: model.outputs(t, X[i:i + 1])[0])(model.theta_)       # (k, P)
        fi = model.outputs(model.theta_, X[i:i + 1])
        Lam = hessian(lambda F: model.likelihood_.nll(model.y_[i:i + 1], F)[0])(fi)[0, :, 0, :]
        S = S + model.weights_[i] * Ji.T @ Lam @ Ji
    np.testing.assert_allclose(Sensitivity(model).precision_.matrix(), S, rtol=1e-9, atol=1e-10)


def test_glm_jacobian_layout_matches_autograd():
    model = _fitted("softmax")
    for i in (0, 44):
        Ji = jacobian(lambda t: model.outputs(t, model.X_[i:i + 1])[0])(model.theta_)
        np.testing.assert_allclose(model.jacobians()[i], Ji, atol=1e-14)


# ---- fits against independent solvers ------------------------------------------------------
def test_linear_regression_is_weighted_ridge_with_a_penalised_intercept():
    X, y = regression_problem(n=25, d=4, seed=8)
    w = np.random.default_rng(9).uniform(0.0, 3.0, size=25)
    delta, s2 = 0.4, 0.6
    model = LinearRegression(delta=delta, noise_var=s2).fit(X, y, weights=w)
    Phi = np.hstack([np.ones((25, 1)), X])
    # (ΦᵀWΦ/σ² + δI) θ = ΦᵀWy/σ²  ⇔  ridge with α = δσ² on the column of ones as a feature
    ridge = Ridge(alpha=delta * s2, fit_intercept=False, solver="cholesky").fit(Phi, y, sample_weight=w)
    np.testing.assert_allclose(model.theta_, ridge.coef_, rtol=1e-10, atol=1e-12)
    closed = np.linalg.solve(Phi.T @ (w[:, None] * Phi) / s2 + delta * np.eye(5), Phi.T @ (w * y) / s2)
    np.testing.assert_allclose(model.theta_, closed, rtol=1e-10, atol=1e-12)


def test_logistic_regression_matches_sklearn():
    X, y = binary_problem(n=80, d=3, seed=10)
    delta = 0.8
    model = LogisticRegression(delta=delta).fit(X, y)
    Phi = np.hstack([np.ones((80, 1)), X])
    # sklearn minimises C Σ ℓ_i + ½||w||², i.e. our L with δ = 1/C when the ones column is a feature
    sk = SkLogistic(C=1.0 / delta, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(Phi, y)
    np.testing.assert_allclose(model.theta_, sk.coef_[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(Phi), atol=1e-7)


def test_softmax_regression_matches_sklearn_multinomial():
    X, y = multiclass_problem(n=60, d=2, k=3, seed=11)
    delta = 0.5
    model = SoftmaxRegression(delta=delta).fit(X, y)
    Phi = np.hstack([np.ones((60, 1)), X])
    sk = SkLogistic(C=1.0 / delta, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(Phi, y)
    # our θ = vec(W), W (D, k) row-major; sklearn's coef_ is Wᵀ (k, D); both keep all k columns
    W = model.theta_.reshape(3, 3)
    np.testing.assert_allclose(W, sk.coef_.T, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(Phi), atol=1e-7)
    assert list(model.classes_) == [0, 1, 2]


@pytest.mark.parametrize("name", GLMS)
def test_weight_two_equals_duplicating_the_example(name):
    model = _fitted(name)
    X, y = model.X_, np.asarray(model.classes_)[model.y_] if name != "linear" else model.y_
    w = np.ones(len(y))
    w[3] = 2.0
    weighted = model.refit(w)
    duplicated = type(model)(**_params(model)).fit(np.vstack([X, X[3:4]]), np.append(y, y[3]))
    np.testing.assert_allclose(weighted.theta_, duplicated.theta_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", GLMS)
def test_weight_zero_equals_deleting_the_example(name):
    model = _fitted(name)
    X, y = model.X_, np.asarray(model.classes_)[model.y_] if name != "linear" else model.y_
    w = np.ones(len(y))
    w[5] = 0.0
    removed = model.refit(w)
    keep = np.arange(len(y)) != 5
    deleted = type(model)(**_params(model)).fit(X[keep], y[keep])
    np.testing.assert_allclose(removed.theta_, deleted.theta_, rtol=1e-8, atol=1e-10)


def _params(model):
    keys = ["delta", "fit_intercept"] + (["noise_var"] if isinstance(model, LinearRegression) else [])
    return {k: getattr(model, k) for k in keys}


@pytest.mark.parametrize("name", GLMS)
def test_glm_refit_with_the_same_weights_returns_theta(name):
    model = _fitted(name)
    again = model.refit(model.weights_)
    np.testing.assert_allclose(again.theta_, model.theta_, atol=1e-12)
    assert again is not model and again.weights_ is not model.weights_


def test_mlp_refit_is_deterministic_and_a_no_op_at_the_optimum():
    model = _fitted("mlp_softmax")
    again = model.refit(model.weights_)
    np.testing.assert_allclose(again.theta_, model.theta_, atol=1e-7)
    w = model.weights_.copy()
    w[2] = 0.0
    a, b = model.refit(w), model.refit(w)
    np.testing.assert_array_equal(a.theta_, b.theta_)
    assert np.abs(a.theta_ - model.theta_).max() > 1e-4     # the removal does change θ
    np.testing.assert_array_equal(model.weights_, _fitted("mlp_softmax").weights_)  # untouched


def test_mlp_fit_is_deterministic_in_seed():
    X, y = multiclass_problem(n=30, d=2, k=3, seed=4)
    a = MLP(hidden=(4,), seed=3).fit(X, y)
    b = MLP(hidden=(4,), seed=3).fit(X, y)
    c = MLP(hidden=(4,), seed=4).fit(X, y)
    np.testing.assert_array_equal(a.theta_, b.theta_)
    assert not np.array_equal(a.initial_theta(), c.initial_theta())


def test_classifier_labels_round_trip():
    X, y = binary_problem(n=40, d=2, seed=12)
    labels = np.array(["no", "yes"])[y]
    model = LogisticRegression(delta=1.0).fit(X, labels)
    assert list(model.classes_) == ["no", "yes"]
    assert set(model.predict(X)) <= {"no", "yes"}
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)
    np.testing.assert_allclose(model.nll(X, labels),
                               LogisticRegression(delta=1.0).fit(X, y).nll(X, y), atol=1e-12)
    with pytest.raises(ValueError, match="not seen in training"):
        model.nll(X[:2], np.array(["no", "maybe"]))


# ---- input validation ----------------------------------------------------------------------
X0, Y0 = regression_problem(n=10, d=2, seed=13)
XB, YB = binary_problem(n=10, d=2, seed=14)


@pytest.mark.parametrize("make, X, y, kwargs, match", [
    (LinearRegression, np.where(np.arange(20).reshape(10, 2) == 7, np.nan, X0), Y0, {}, "NaN"),
    (LinearRegression, X0, Y0[:, None], {}, r"y must have shape \(10,\)"),
    (LinearRegression, X0, Y0[:9], {}, r"y must have shape \(10,\)"),
    (LinearRegression, X0[:, 0], Y0, {}, "2-D"),
    (LinearRegression, X0, np.where(np.arange(10) == 3, np.inf, Y0), {}, "NaN or infinite"),
    (LogisticRegression, XB, np.zeros(10), {}, "1 class.*exactly 2"),
    (LogisticRegression, XB, np.arange(10) % 3, {}, "3 class.*exactly 2"),
    (SoftmaxRegression, XB, np.zeros(10), {}, "1 class"),
    (MLP, XB, np.arange(10) % 3, {"head": "logistic"}, "exactly 2"),
])
def test_bad_data_raises_value_error(make, X, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs).fit(X, y)


@pytest.mark.parametrize("model, match", [
    (LinearRegression(delta=-1.0), "delta"),
    (LogisticRegression(delta=-0.1), "delta"),
    (LinearRegression(delta=float("nan")), "delta"),
    (LinearRegression(noise_var=0.0), "noise_var"),
    (LinearRegression(noise_var=-2.0), "noise_var"),
    (SoftmaxRegression(delta=0.0), "delta > 0"),
    (MLP(delta=-1.0, head="linear"), "delta"),
    (MLP(head="linear", noise_var=0.0), "noise_var"),
    (MLP(head="gamma"), "head"),
    (MLP(activation="sigmoid"), "activation"),
    (MLP(hidden=(0,)), "hidden"),
])
def test_bad_hyperparameters_raise_value_error(model, match):
    y = Y0 if getattr(model, "head", None) == "linear" or isinstance(model, LinearRegression) else YB
    with pytest.raises(ValueError, match=match):
        model.fit(X0, y)


@pytest.mark.parametrize("weights, match", [
    (np.ones(9), r"shape \(10,\)"),
    (np.ones((10, 1)), r"shape \(10,\)"),
    (np.where(np.arange(10) == 4, -1.0, 1.0), "weight 4 is -1"),
    (np.where(np.arange(10) == 4, np.nan, 1.0), "finite"),
])
def test_bad_weights_raise_value_error(weights, match):
    with pytest.raises(ValueError, match=match):
        LinearRegression().fit(X0, Y0, weights=weights)
    fitted = LinearRegression().fit(X0, Y0)
    with pytest.raises(ValueError, match=match):
        fitted.refit(weights)


def test_predict_checks_its_input_and_fitted_state():
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearRegression().predict(X0)
    model = LinearRegression().fit(X0, Y0)
    with pytest.raises(ValueError, match="3 features; the model was fitted with 2"):
        model.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="theta must be a finite vector of shape"):
        model.with_theta(np.ones(5))


def test_separable_data_without_prior_warns():
    # On separable data with delta = 0 the logistic loss has no minimum: a fit must say so.
    from mpe_teach import ConvergenceWarning, LogisticRegression
    X, y = np.array([[-2.0], [-1.0], [1.0], [2.0]]), np.array([0, 0, 1, 1])
    with pytest.warns(ConvergenceWarning, match="perfectly separated"):
        LogisticRegression(delta=0.0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # with a prior the same data fits cleanly
        LogisticRegression(delta=1.0).fit(X, y)
