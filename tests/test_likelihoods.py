"""Per-example losses (mpe-math §1): the values against scipy / scikit-learn, and the output-space
derivatives e_i = ∂ℓ/∂f and Λ_i = ∂²ℓ/∂f² against autograd differentiating ``nll``."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import elementwise_grad, hessian
from scipy import special, stats
from sklearn.metrics import log_loss

from mpe_teach.likelihoods import Bernoulli, Categorical, Gaussian, sigmoid, softmax

N = 7


def _data(name, k=4, scale=3.0):
    """Random outputs f (N, k) and targets y (N,) for one likelihood."""
    rng = np.random.default_rng({"gaussian": 0, "bernoulli": 1, "categorical": 2}[name])
    if name == "gaussian":
        return Gaussian(noise_var=0.37), scale * rng.normal(size=(N, 1)), rng.normal(size=N)
    if name == "bernoulli":
        return Bernoulli(), scale * rng.normal(size=(N, 1)), rng.integers(0, 2, size=N).astype(float)
    return Categorical(), scale * rng.normal(size=(N, k)), rng.integers(0, k, size=N)


NAMES = ["gaussian", "bernoulli", "categorical"]


def test_gaussian_nll_is_the_normal_log_density_without_its_constant():
    lik, f, y = _data("gaussian")
    sd = np.sqrt(lik.noise_var)
    expected = -stats.norm.logpdf(y, loc=f[:, 0], scale=sd) - 0.5 * np.log(2 * np.pi * lik.noise_var)
    np.testing.assert_allclose(lik.nll(y, f), expected, rtol=1e-12, atol=1e-12)


def test_bernoulli_nll_is_scipy_log_pmf():
    lik, f, y = _data("bernoulli")
    expected = -stats.bernoulli.logpmf(y, special.expit(f[:, 0]))
    np.testing.assert_allclose(lik.nll(y, f), expected, rtol=1e-10)


def test_categorical_nll_is_sklearn_log_loss():
    lik, f, y = _data("categorical")
    p = special.softmax(f, axis=1)
    per_example = [log_loss([y[i]], p[i:i + 1], labels=range(f.shape[1])) for i in range(N)]
    np.testing.assert_allclose(lik.nll(y, f), per_example, rtol=1e-10)


def test_losses_stay_finite_for_huge_outputs():
    # |f| = 800 overflows a naive exp(f); the log-sum-exp forms must not.
    f = np.array([[800.0], [-800.0]])
    np.testing.assert_allclose(Bernoulli().nll(np.array([0.0, 1.0]), f), [800.0, 800.0])
    fc = np.array([[800.0, 0.0, -800.0]])
    np.testing.assert_allclose(Categorical().nll(np.array([1]), fc), [800.0])
    assert np.all(np.isfinite(Categorical().curvatures(np.array([1]), fc)))


def test_sigmoid_and_softmax_match_scipy():
    f = np.random.default_rng(3).normal(scale=10, size=(20, 5))
    # sigmoid is computed as (1 + tanh(f/2))/2: absolutely (not relatively) accurate near 0
    np.testing.assert_allclose(sigmoid(f), special.expit(f), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(softmax(f), special.softmax(f, axis=1), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_errors_are_the_autograd_gradient_of_nll(name):
    lik, f, y = _data(name)
    # Each ℓ_i depends on f_i only, so the gradient of Σ_i ℓ_i w.r.t. f (N, k) has rows e_i.
    e_autograd = elementwise_grad(lambda F: anp.sum(lik.nll(y, F)))(f)
    np.testing.assert_allclose(lik.errors(y, f), e_autograd, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_curvatures_are_the_autograd_hessian_of_nll(name):
    lik, f, y = _data(name)
    k = f.shape[1]
    H = hessian(lambda F: anp.sum(lik.nll(y, F)))(f)       # (N, k, N, k)
    blocks = np.stack([H[i, :, i, :] for i in range(N)])
    np.testing.assert_allclose(lik.curvatures(y, f), blocks, rtol=1e-10, atol=1e-12)
    # and nothing couples different examples
    off = H.copy()
    for i in range(N):
        off[i, :, i, :] = 0.0
    assert np.abs(off).max() == 0.0
    assert lik.curvatures(y, f).shape == (N, k, k)


@pytest.mark.parametrize("name", NAMES)
def test_curvatures_are_symmetric_positive_semidefinite(name):
    lik, f, y = _data(name)
    Lam = lik.curvatures(y, f)
    np.testing.assert_allclose(Lam, np.swapaxes(Lam, 1, 2), atol=1e-15)
    assert np.linalg.eigvalsh(Lam).min() > -1e-12


def test_classification_probabilities_sum_to_one():
    f = np.random.default_rng(4).normal(size=(10, 1))
    p = Bernoulli().probabilities(f)
    np.testing.assert_allclose(p[:, 1], special.expit(f[:, 0]), rtol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    fc = np.random.default_rng(5).normal(size=(10, 3))
    np.testing.assert_allclose(Categorical().probabilities(fc).sum(axis=1), 1.0)
