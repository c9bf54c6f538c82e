"""The model contract (one set of methods for every model), Poisson regression against
statsmodels, parallel ground truth, and the CLI's handling of models that cannot converge."""
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from mpe_teach import (MLP, ConvergenceWarning, LinearRegression, LogisticRegression,
                       PoissonRegression, Sensitivity, SoftmaxRegression)
from mpe_teach.curvature import Precision
from mpe_teach.truth import loo_refits


def count_problem(n=80, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.poisson(np.exp(0.3 + X @ np.array([0.5, -0.4, 0.2])[:d]))
    return X, y.astype(float)


def models_and_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2))
    lin = X @ [1.0, -1.0] + rng.normal(size=40)
    return [
        (LinearRegression(delta=0.5), X, lin),
        (LogisticRegression(delta=1.0), X, np.where(lin > 0, "yes", "no")),
        (SoftmaxRegression(delta=1.0), X, np.digitize(lin, [-1, 1])),
        (PoissonRegression(delta=1.0), *count_problem(40, 2, 2)),
        (MLP(hidden=(3,), head="softmax", delta=1.0), X, np.digitize(lin, [-1, 1])),
        (MLP(hidden=(3,), head="poisson", delta=1.0), *count_problem(40, 2, 3)),
    ]


@pytest.mark.parametrize("model, X, y", models_and_data(), ids=lambda v: type(v).__name__ if hasattr(v, "fit") else "")
def test_every_model_speaks_the_same_contract(model, X, y):
    fitted = clone(model).fit(X, y)
    assert clone(fitted).get_params() == model.get_params()        # sklearn.base.clone works
    assert fitted.converged_ and fitted.grad_norm_ <= fitted.tol * fitted.grad_scale_
    n, P = X.shape[0], fitted.n_params_
    J, e, Lam = fitted.jacobians(), fitted.errors(), fitted.curvatures()
    k = fitted.n_outputs_
    assert J.shape == (n, k, P) and e.shape == (n, k) and Lam.shape == (n, k, k)
    f = fitted.decision_function(X)
    assert f.shape == ((n,) if k == 1 else (n, k))
    pred = fitted.predict(X)
    if fitted.likelihood_.is_classifier:
        assert set(pred) <= set(fitted.classes_)                    # labels, not outputs
        proba = fitted.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_array_equal(pred, fitted.classes_[np.argmax(proba, axis=1)])
    else:
        np.testing.assert_allclose(pred, fitted.likelihood_.mean(fitted.train_outputs()))
        with pytest.raises(TypeError, match="not a classifier"):
            fitted.predict_proba(X)
    # refit with the same weights from θ* stays at θ*; refit from a far start comes back
    again = fitted.refit(fitted.weights_, warm_start=fitted.theta_ + 0.1)
    np.testing.assert_allclose(again.decision_function(X), f, atol=1e-5)
    # the gradient the optimiser tests is the gradient of the objective (autograd)
    from autograd import grad
    np.testing.assert_allclose(fitted.gradient(fitted.theta_ + 0.05),
                               grad(fitted.objective)(fitted.theta_ + 0.05), rtol=1e-8, atol=1e-10)


def test_poisson_matches_statsmodels_influence():
    sm = pytest.importorskip("statsmodels.api")
    X, y = count_problem()
    model = PoissonRegression(delta=0.0).fit(X, y)
    Phi = sm.add_constant(X)
    res = sm.GLM(y, Phi, family=sm.families.Poisson()).fit(tol=1e-14)
    infl = res.get_influence()
    np.testing.assert_allclose(model.theta_, res.params, rtol=1e-8, atol=1e-10)
    sens = Sensitivity(model)
    np.testing.assert_allclose(sens.params_one, infl.params_one, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sens.hat_matrix_diag, infl.hat_matrix_diag, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(sens.cooks_distance, infl.cooks_distance[0], rtol=1e-8, atol=1e-12)


def test_poisson_estimates_track_refits():
    X, y = count_problem(seed=5)
    model = PoissonRegression(delta=1.0).fit(X, y)
    sens = Sensitivity(model)
    est = sens.loo_outputs()[:, 0]
    true, ok = loo_refits(model, np.arange(len(y)), progress=False)
    assert ok.all()
    change = true[:, 0] - model.train_outputs()[:, 0]
    assert np.corrcoef(est - model.train_outputs()[:, 0], change)[0, 1] > 0.99
    assert np.abs(est - true[:, 0]).max() < 0.05 * np.abs(change).max()


def test_mlp_poisson_head_fits_counts():
    X, y = count_problem(60, 2, seed=7)
    model = MLP(hidden=(4,), head="poisson", delta=1.0).fit(X, y)
    assert model.converged_ and model.predict(X).min() > 0


def test_refits_are_identical_for_any_n_jobs_and_start_at_the_mpe():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    model = LogisticRegression(delta=0.5).fit(X, y)
    sens = Sensitivity(model)
    rows = np.arange(10)
    one, ok1 = loo_refits(model, rows, n_jobs=1, progress=False)
    two, ok2 = loo_refits(model, rows, sensitivity=sens, n_jobs=2, progress=False)
    assert ok1.all() and ok2.all()
    np.testing.assert_allclose(one, two, atol=1e-10)
    for a, i in enumerate(rows):                    # against a plain refit from θ*
        w = np.ones(60)
        w[i] = 0
        np.testing.assert_allclose(one[a], model.refit(w).train_outputs()[i], atol=1e-10)


def test_a_refit_without_a_minimum_is_not_reported_as_truth():
    # removing the only example of a one-hot column at delta = 0 leaves that coefficient free
    X = np.c_[np.r_[1.0, np.zeros(9)], np.arange(10.0)]
    y = np.arange(10.0) * 0.5 + np.r_[3.0, np.zeros(9)]
    model = LinearRegression(delta=0.0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values, ok = loo_refits(model, np.array([0, 1]), progress=False)
    assert not ok[0] and np.all(np.isnan(values[0])) and ok[1]


def test_scale_free_convergence_no_spurious_warnings():
    # house-price scale: y ~ 3e5, features of very different sizes; the fit converges silently
    rng = np.random.default_rng(0)
    X = np.c_[rng.uniform(500, 4000, 200), rng.integers(1, 6, 200), rng.uniform(1.6e9, 1.7e9, 200)]
    y = 100 * X[:, 0] + 2e4 * X[:, 1] + rng.normal(0, 2e4, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LinearRegression(delta=1.0).fit(X, y)
        for i in range(5):
            w = np.ones(200)
            w[i] = 0
            assert model.refit(w).converged_
    # reference: the same ridge problem as least squares on [Φ; √δ I] (QR, no squared condition)
    Phi = np.c_[np.ones(200), X]
    ref = np.linalg.lstsq(np.r_[Phi, np.eye(4)], np.r_[y, np.zeros(4)], rcond=None)[0]
    np.testing.assert_allclose(Phi @ model.theta_, Phi @ ref, rtol=1e-6)
    assert model.objective(model.theta_) <= model.objective(ref) * (1 + 1e-9)


def test_models_copy_what_they_keep():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 2)), rng.normal(size=30)
    model = LinearRegression().fit(X, y)
    before = Sensitivity(model).loo_outputs()
    X[:] = 0.0
    y[:] = 100.0
    np.testing.assert_array_equal(Sensitivity(model).loo_outputs(), before)


def test_every_precision_follows_the_contract():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = rng.integers(0, 3, 30)
    model = MLP(hidden=(3,), delta=1.0).fit(X, y)
    for structure in ("full", "diag", "kfac", "last_layer"):
        prec = Sensitivity(model, structure).precision_
        assert isinstance(prec, Precision) and prec.n_params == model.n_params_
        B = rng.normal(size=(model.n_params_, 2))
        assert prec.solve(B).shape == B.shape
    with pytest.raises(ValueError, match="the model has"):
        Sensitivity(model, Sensitivity(LogisticRegression().fit(X, y % 2)).precision_)


@pytest.mark.parametrize("bad, match", [
    (lambda: LinearRegression(delta="1").fit(np.ones((3, 1)), [1, 2, 3]), "delta"),
    (lambda: LogisticRegression().fit(np.ones((3, 1)), [0, None, 1]), "missing"),
    (lambda: LogisticRegression().fit(np.ones((3, 1)), np.array([0, "1", 1], dtype=object)), "mixes"),
    (lambda: LinearRegression().fit(np.ones((3, 1)), [1, 2, 1e300]), "magnitude"),
    (lambda: LinearRegression().fit(np.full((3, 1), 1e300), [1, 2, 3]), "magnitude"),
    (lambda: Sensitivity(LinearRegression()), "not fitted"),
    (lambda: Sensitivity(LinearRegression().fit(np.eye(3), [1, 2, 3])).param_change([0, 1], [1, 2, 3]), "one per member"),
    (lambda: Sensitivity(LinearRegression().fit(np.eye(3), [1, 2, 3])).pred_changes(np.ones(3)), "weight"),
])
def test_bad_input_gets_one_clear_error(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bad()
