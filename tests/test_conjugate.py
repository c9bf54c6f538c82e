"""Conjugate models: the MPE (adding memories) must equal an exact refit, and every fit must
equal an independent closed form (counts, scipy.stats, np.linalg.solve, scikit-learn Ridge)."""
import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge

from mpe_teach.conjugate import (BayesianLinearRegression, BetaBernoulli, GaussianMean,
                                 GaussianNaturalParams, beta_bernoulli_memory,
                                 gaussian_mean_memory, linear_regression_memory)

RTOL = 1e-12
N = 30


def _bernoulli():
    return (np.random.default_rng(0).random(N) < 0.3).astype(float)


def _gaussian():
    return np.random.default_rng(1).normal(2.0, 1.5, size=N)


def _regression(D=3):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(N, D))
    y = X @ rng.normal(size=D) + 0.5 + 0.3 * rng.normal(size=N)
    return X, y


MODELS = {
    "beta": lambda: BetaBernoulli(a0=2.0, b0=3.0).fit(_bernoulli()),
    "gauss": lambda: GaussianMean(mu0=0.5, tau0=2.0, noise_var=0.7).fit(_gaussian()),
    "blr": lambda: BayesianLinearRegression(delta=0.5, noise_var=0.3).fit(*_regression()),
    "blr_noint": lambda: BayesianLinearRegression(delta=2.0, noise_var=1.7,
                                                  fit_intercept=False).fit(*_regression()),
}


def _posterior(model):
    """The fitted posterior as (mean, precision or a, b) arrays, for comparison."""
    if isinstance(model, BetaBernoulli):
        return [model.natural_params_, model.a_, model.b_, model.mean_]
    if isinstance(model, GaussianMean):
        return [model.natural_params_, model.mean_, model.precision_]
    return [model.eta1_, model.eta2_, model.mean_, model.precision_, model.coef_]


def _assert_same_posterior(a, b):
    for u, v in zip(_posterior(a), _posterior(b)):
        np.testing.assert_allclose(u, v, rtol=RTOL, atol=1e-13)
    np.testing.assert_array_equal(a.weights_, b.weights_)


# ---------------------------------------------------------------- MPE == refit
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("weight", [0.0, 2.0, 0.37, 5.5])
def test_perturb_one_example_equals_refit(name, weight):
    model = MODELS[name]()
    for i in [0, 7, N - 1]:
        w = model.weights_.copy()
        w[i] = weight
        _assert_same_posterior(model.perturb(i, weight), model.refit(w))


@pytest.mark.parametrize("name", MODELS)
def test_perturb_group_random_weights_equals_refit(name):
    model = MODELS[name]()
    rng = np.random.default_rng(3)
    for _ in range(5):
        idx = rng.choice(N, size=rng.integers(1, N), replace=False)
        new = rng.uniform(0, 3, size=idx.size)
        w = model.weights_.copy()
        w[idx] = new
        _assert_same_posterior(model.perturb(idx, new), model.refit(w))
        w[idx] = 0.0  # remove the whole group with a scalar weight
        _assert_same_posterior(model.perturb(idx, 0.0), model.refit(w))


@pytest.mark.parametrize("name", MODELS)
def test_perturb_chains_from_a_weighted_fit(name):
    """Start from non-unit weights, perturb twice: still the exact refit."""
    base = MODELS[name]()
    w0 = np.random.default_rng(4).uniform(0.2, 2.0, size=N)
    model = base.refit(w0)
    twice = model.perturb(np.array([1, 2, 3]), 0.0).perturb(2, 4.0)
    w = w0.copy()
    w[[1, 3]], w[2] = 0.0, 4.0
    _assert_same_posterior(twice, base.refit(w))


@pytest.mark.parametrize("name", MODELS)
def test_perturb_returns_new_object_and_leaves_original(name):
    model = MODELS[name]()
    before = [np.copy(a) for a in _posterior(model)]
    out = model.perturb(4, 0.0)
    assert out is not model and out.weights_[4] == 0.0 and model.weights_[4] == 1.0
    for u, v in zip(before, _posterior(model)):
        np.testing.assert_array_equal(u, v)
    assert not np.allclose(_posterior(out)[0], before[0])  # removal changed something


@pytest.mark.parametrize("name", MODELS)
def test_removing_all_data_gives_the_prior(name):
    model = MODELS[name]()
    empty = model.perturb(np.arange(N), 0.0)
    if isinstance(model, BetaBernoulli):
        np.testing.assert_allclose([empty.a_, empty.b_], [model.a0, model.b0], rtol=RTOL)
    elif isinstance(model, GaussianMean):
        np.testing.assert_allclose([empty.mean_, empty.precision_], [model.mu0, model.tau0],
                                   rtol=RTOL)
    else:
        np.testing.assert_allclose(empty.precision_, model.delta * np.eye(model.mean_.size),
                                   atol=1e-12)
        np.testing.assert_allclose(empty.mean_, 0.0, atol=1e-12)


# ---------------------------------------------------------------- memories
def test_memory_values_and_shapes():
    beta = MODELS["beta"]()
    x = beta._x
    np.testing.assert_array_equal(beta.memory(3), [x[3], 1 - x[3]])
    assert beta.memory(np.array([1, 2])).shape == (2, 2)
    gauss = MODELS["gauss"]()
    np.testing.assert_allclose(gauss.memory(5), [gauss._x[5] / 0.7, -0.5 / 0.7])
    blr = MODELS["blr"]()
    X, y = _regression()
    phi = np.r_[1.0, X[6]]  # intercept column is FIRST
    mem = blr.memory(6)
    assert isinstance(mem, GaussianNaturalParams)
    np.testing.assert_allclose(mem.eta1, phi * y[6] / 0.3, rtol=RTOL)
    np.testing.assert_allclose(mem.eta2, -np.outer(phi, phi) / 0.6, rtol=RTOL)
    group = blr.memory(np.array([6, 0]))
    assert group.eta1.shape == (2, 4) and group.eta2.shape == (2, 4, 4)
    np.testing.assert_allclose(group.eta2[0], mem.eta2, rtol=RTOL)


def test_prior_plus_weighted_memories_is_the_posterior():
    """λ* = λ_0 + Σ w_i λ̃_i, with the memory functions applied to all data at once."""
    rng = np.random.default_rng(5)
    w = rng.uniform(0, 2, size=N)
    x = _bernoulli()
    beta = BetaBernoulli(2.0, 3.0).fit(x, weights=w)
    np.testing.assert_allclose(beta.natural_params_, [1.0, 2.0] + w @ beta_bernoulli_memory(x),
                               rtol=RTOL)
    x = _gaussian()
    g = GaussianMean(0.5, 2.0, 0.7).fit(x, weights=w)
    np.testing.assert_allclose(g.natural_params_, [1.0, -1.0] + w @ gaussian_mean_memory(x, 0.7),
                               rtol=RTOL)
    X, y = _regression()
    blr = BayesianLinearRegression(delta=0.5, noise_var=0.3, fit_intercept=False).fit(X, y, w)
    mem = linear_regression_memory(X, y, 0.3)
    np.testing.assert_allclose(blr.eta1_, w @ mem.eta1, rtol=RTOL)
    np.testing.assert_allclose(blr.eta2_, -0.25 * np.eye(3) + np.tensordot(w, mem.eta2, 1),
                               rtol=RTOL)


# ---------------------------------------------------------------- independent closed forms
def test_beta_posterior_against_counts_and_scipy():
    x = _bernoulli()
    model = BetaBernoulli(a0=2.0, b0=3.0).fit(x)
    assert model.a_ == 2.0 + np.sum(x == 1) and model.b_ == 3.0 + np.sum(x == 0)
    np.testing.assert_allclose(model.mean_, stats.beta(model.a_, model.b_).mean(), rtol=RTOL)
    drop = model.perturb(np.flatnonzero(x == 1)[:2], 0.0)  # remove two ones
    assert drop.a_ == model.a_ - 2 and drop.b_ == model.b_
    dup = model.perturb(np.flatnonzero(x == 0)[0], 2.0)  # duplicate a zero
    assert dup.a_ == model.a_ and dup.b_ == model.b_ + 1
    np.testing.assert_allclose(dup.mean_, stats.beta(dup.a_, dup.b_).mean(), rtol=RTOL)


def test_gaussian_mean_against_textbook_formula():
    x = _gaussian()
    model = GaussianMean(mu0=0.5, tau0=2.0, noise_var=0.7).fit(x)
    prec = 2.0 + N / 0.7
    np.testing.assert_allclose(model.precision_, prec, rtol=RTOL)
    np.testing.assert_allclose(model.mean_, (2.0 * 0.5 + x.sum() / 0.7) / prec, rtol=RTOL)
    loo = model.perturb(0, 0.0)  # leave-one-out: the same formula without x_0
    np.testing.assert_allclose(loo.mean_, (1.0 + x[1:].sum() / 0.7) / (prec - 1 / 0.7), rtol=RTOL)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_blr_mean_against_normal_equations(fit_intercept):
    X, y = _regression()
    w = np.random.default_rng(6).uniform(0, 2, size=N)
    delta, s2 = 0.5, 0.3
    model = BayesianLinearRegression(delta, s2, fit_intercept).fit(X, y, weights=w)
    A = np.hstack([np.ones((N, 1)), X]) if fit_intercept else X
    S = A.T @ np.diag(w) @ A / s2 + delta * np.eye(A.shape[1])
    m = np.linalg.solve(S, A.T @ np.diag(w) @ y / s2)
    np.testing.assert_allclose(model.precision_, S, rtol=RTOL)
    np.testing.assert_allclose(model.mean_, m, rtol=1e-10)
    np.testing.assert_allclose(model.predict(X[:5]), A[:5] @ m, rtol=1e-10)


def test_blr_no_intercept_against_sklearn_ridge():
    X, y = _regression()
    delta, s2 = 2.0, 1.7
    model = BayesianLinearRegression(delta, s2, fit_intercept=False).fit(X, y)
    ridge = Ridge(alpha=delta * s2, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(model.coef_, ridge.coef_, rtol=1e-10)
    assert model.intercept_ == 0.0
    # removal via the MPE against Ridge trained without example 3 (sample_weight 0)
    w = np.ones(N)
    w[3] = 0.0
    ridge_loo = Ridge(alpha=delta * s2, fit_intercept=False).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(model.perturb(3, 0.0).coef_, ridge_loo.coef_, rtol=1e-10)


def test_blr_delta_zero_matches_least_squares():
    X, y = _regression()
    model = BayesianLinearRegression(delta=0.0).fit(X, y)
    lstsq = np.linalg.lstsq(np.hstack([np.ones((N, 1)), X]), y, rcond=None)[0]
    np.testing.assert_allclose(model.mean_, lstsq, rtol=1e-10)
    np.testing.assert_allclose(model.intercept_, lstsq[0], rtol=1e-10)


def test_blr_singular_precision_is_reported():
    X, y = _regression()
    with pytest.raises(np.linalg.LinAlgError, match="singular"):  # 2 examples, 4 parameters
        BayesianLinearRegression(delta=0.0).fit(X[:2], y[:2])
    model = BayesianLinearRegression(delta=0.0).fit(X[:5], y[:5])
    with pytest.raises(np.linalg.LinAlgError, match="singular"):  # removal leaves too few
        model.perturb(np.array([0, 1]), 0.0)


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("make, data, match", [
    (lambda: BetaBernoulli(a0=0.0), "x", r"a0 must be a finite number > 0; got 0\.0"),
    (lambda: BetaBernoulli(b0=-1.0), "x", r"b0 must be .*> 0; got -1"),
    (lambda: GaussianMean(tau0=0.0), "x", r"tau0 must be .*> 0; got 0"),
    (lambda: GaussianMean(noise_var=-1.0), "x", r"noise_var must be .*> 0; got -1"),
    (lambda: GaussianMean(mu0=np.nan), "x", r"mu0 must be a finite number; got nan"),
    (lambda: BayesianLinearRegression(delta=-0.1), "Xy", r"delta must be .*>= 0; got -0\.1"),
    (lambda: BayesianLinearRegression(noise_var=0.0), "Xy", r"noise_var must be .*> 0; got 0"),
])
def test_bad_hyperparameters_raise(make, data, match):
    args = (_bernoulli(),) if data == "x" else _regression()
    with pytest.raises(ValueError, match=match):
        make().fit(*args)


def test_bad_data_raise():
    with pytest.raises(ValueError, match=r"x must contain only 0 and 1; got \[0\.5 2\. \]"):
        BetaBernoulli().fit([0, 1, 0.5, 2])
    with pytest.raises(ValueError, match=r"x must have shape .*got \(2, 2\)"):
        BetaBernoulli().fit([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"x has a NaN or infinite value"):
        GaussianMean().fit([0.0, np.inf, 1.0])
    X, y = _regression()
    with pytest.raises(ValueError, match=r"X must be a 2-D array \(n, d\); got shape \(30,\)"):
        BayesianLinearRegression().fit(X[:, 0], y)
    with pytest.raises(ValueError, match=r"y must have one entry per row of X \(30\); got 29"):
        BayesianLinearRegression().fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"y has a NaN or infinite value"):
        BayesianLinearRegression().fit(X, np.r_[y[:-1], np.nan])
    model = BayesianLinearRegression().fit(X, y)
    with pytest.raises(ValueError, match=r"X must have 3 columns; got 2"):
        model.predict(X[:, :2])


@pytest.mark.parametrize("name", MODELS)
def test_bad_weights_raise(name):
    model = MODELS[name]()
    w = np.ones(N)
    with pytest.raises(ValueError, match=r"weights must have shape \(30,\).*got \(29,\)"):
        model.refit(w[:-1])
    with pytest.raises(ValueError, match=r"weights must be >= 0 .*is -1\.0"):
        model.refit(np.r_[w[:-1], -1.0])
    with pytest.raises(ValueError, match=r"weights must be finite; got NaN"):
        model.refit(np.r_[w[:-1], np.nan])


@pytest.mark.parametrize("name", MODELS)
def test_bad_perturbations_raise(name):
    model = MODELS[name]()
    with pytest.raises(ValueError, match=r"weight must be a finite number >= 0.*got -0\.5"):
        model.perturb(0, -0.5)
    with pytest.raises(ValueError, match=r"weight must be one number or one per member \(2,\); got shape \(3,\)"):
        model.perturb(np.array([0, 1]), np.ones(3))
    with pytest.raises(ValueError, match=r"i must index the 30 training examples \(0\.\.29\); got \[30\]"):
        model.perturb(30)
    with pytest.raises(ValueError, match=r"i must index .*; got \[-1\]"):
        model.memory(-1)
    with pytest.raises(ValueError, match=r"i must be an example index or a 1-D array of indices; got 1\.5"):
        model.perturb(1.5)
    with pytest.raises(ValueError, match=r"i must not list an example twice"):
        model.perturb(np.array([2, 2]), 0.0)
