"""Per-example losses and their output-space derivatives (mpe-math §1).

Everything the MPE needs from a loss lives in output space, f = f_i(θ) ∈ R^k:

    nll(y, f)        ℓ_i, the per-example negative log-likelihood
    errors(y, f)     e_i = ∂ℓ/∂f       the prediction error        (n, k)
    curvatures(y, f) Λ_i = ∂²ℓ/∂f²     the output curvature        (n, k, k)

Outputs are always passed as a 2-D array f of shape (n, k); k = 1 for regression and binary
classification. ``nll`` is written with autograd.numpy so the same code is differentiated by
autograd (for the MLP) and checked against ``errors``/``curvatures`` in the tests.
"""
import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import logsumexp


class Gaussian:
    """ℓ = (y − f)² / (2σ²) (+ a constant):  e = (f − y)/σ²,  Λ = 1/σ²."""

    name = "gaussian"

    def __init__(self, noise_var=1.0):
        self.noise_var = float(noise_var)

    def nll(self, y, f):
        return (y - f[:, 0]) ** 2 / (2.0 * self.noise_var)

    def errors(self, y, f):
        return (f - y[:, None]) / self.noise_var

    def curvatures(self, y, f):
        return np.full((f.shape[0], 1, 1), 1.0 / self.noise_var)

    def mean(self, f):
        """The predictive mean in data space (here: f itself)."""
        return f[:, 0]


class Bernoulli:
    """Logistic loss ℓ = log(1 + e^f) − y f:  e = σ(f) − y,  Λ = σ(f)(1 − σ(f))."""

    name = "bernoulli"

    def nll(self, y, f):
        return anp.logaddexp(0.0, f[:, 0]) - y * f[:, 0]

    def errors(self, y, f):
        return sigmoid(f) - y[:, None]

    def curvatures(self, y, f):
        p = sigmoid(f)
        return (p * (1.0 - p))[:, :, None]

    def probabilities(self, f):
        """(n, 2): columns P(y=0), P(y=1)."""
        p1 = sigmoid(f[:, 0])
        return np.stack([1.0 - p1, p1], axis=1)


class Categorical:
    """Softmax cross-entropy ℓ = logsumexp(f) − f_y:  e = p − onehot(y),  Λ = diag(p) − p pᵀ."""

    name = "categorical"

    def nll(self, y, f):
        return logsumexp(f, axis=1) - f[anp.arange(f.shape[0]), y]

    def errors(self, y, f):
        return softmax(f) - np.eye(f.shape[1])[y]

    def curvatures(self, y, f):
        p = softmax(f)
        return p[:, :, None] * np.eye(f.shape[1]) - p[:, :, None] * p[:, None, :]

    def probabilities(self, f):
        return softmax(f)


def sigmoid(f):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(f)))


def softmax(f):
    z = f - f.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)
