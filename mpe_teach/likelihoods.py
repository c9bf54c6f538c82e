"""Per-example losses and everything that depends on them (mpe-math §1, §5, §8).

Everything the MPE needs from a loss lives in output space, f = f_i(θ) ∈ R^k:

    nll(y, f)         ℓ_i, the per-example negative log-likelihood          (n,)
    errors(y, f)      e_i = ∂ℓ/∂f       the prediction error                (n, k)
    curvatures(y, f)  Λ_i = ∂²ℓ/∂f²     the output curvature                (n, k, k)

and what a user reads off the outputs:

    mean(f)           the predictive mean in data space (a value, a rate, class probabilities)
    predict(f)        what ``Model.predict`` returns: the mean, or the most probable class index
    deviation(f, g)   how far a prediction moved when the outputs go from f to g (n,): the
                      quantity the paper plots, Σ_c |p_c(g) − p_c(f)| for classifiers
    loo_loss(y, f)    the leave-one-out loss reported for estimated LOO outputs f^{\\i}
    encode(y)         the targets as the loss takes them (and the class labels, for classifiers)

Outputs are always a 2-D array f of shape (n, k); k = 1 for regression, counts and binary
classification. ``nll`` is written with autograd.numpy so the same code is differentiated by
autograd (for the MLP) and checked against ``errors``/``curvatures`` in the tests.

A new likelihood is one class here (and one model class in models.py that names it).
"""
import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import logsumexp
from scipy.special import gammaln

from .validation import check_vector


class Likelihood:
    """What every likelihood shares; subclasses fill in the formulas."""

    name = "likelihood"
    is_classifier = False
    constant_curvature = False      # Λ does not depend on f (the loss is quadratic in f)
    loo_loss_name = "mean negative log-likelihood"

    def n_outputs(self, classes):
        return 1

    def encode(self, y, name="y"):
        """(targets as floats (n,), None): the targets of a regression-type likelihood."""
        return check_vector(name, y, len(y)), None

    def predict(self, f):
        return self.mean(f)

    def deviation(self, f, g):
        """|mean(g) − mean(f)| (n,) for a one-output mean."""
        return np.abs(self.mean(g) - self.mean(f))

    def loo_loss(self, y, f_loo):
        return float(np.mean(self.nll(y, f_loo)))


class Gaussian(Likelihood):
    """ℓ = (y − f)² / (2σ²) (+ a constant):  e = (f − y)/σ²,  Λ = 1/σ²."""

    name = "gaussian"
    constant_curvature = True
    loo_loss_name = "mean squared error"

    def __init__(self, noise_var=1.0):
        self.noise_var = float(noise_var)

    def nll(self, y, f):
        return (y - f[:, 0]) ** 2 / (2.0 * self.noise_var)

    def errors(self, y, f):
        return (f - y[:, None]) / self.noise_var

    def curvatures(self, y, f):
        return np.full((f.shape[0], 1, 1), 1.0 / self.noise_var)

    def mean(self, f):
        return f[:, 0]

    def loo_loss(self, y, f_loo):
        """The mean squared LOO residual (as scikit-learn's RidgeCV reports it)."""
        return float(np.mean((y - f_loo[:, 0]) ** 2))


class Poisson(Likelihood):
    """Counts with a log link: rate μ = e^f, ℓ = e^f − y f + log y!:  e = e^f − y,  Λ = e^f."""

    name = "poisson"

    def encode(self, y, name="y"):
        y = check_vector(name, y, len(y))
        if np.any(y < 0):
            raise ValueError(f"{name} must be counts >= 0 for a Poisson model; got {y[y < 0][0]!r}")
        return y, None

    def nll(self, y, f):
        return anp.exp(f[:, 0]) - y * f[:, 0] + gammaln(y + 1.0)

    def errors(self, y, f):
        return np.exp(f) - y[:, None]

    def curvatures(self, y, f):
        return np.exp(f)[:, :, None]

    def mean(self, f):
        return np.exp(f[:, 0])


class _Categorical(Likelihood):
    """Shared by the classifiers: labels are encoded as indices into ``classes``."""

    is_classifier = True

    def encode(self, y, name="y"):
        """(class indices (n,), the sorted distinct labels). Labels must be all numbers or all
        strings, with no missing value."""
        y = check_vector(name, y, len(y), numeric=False)
        values = y.tolist()
        if any(v is None or (isinstance(v, float) and not np.isfinite(v)) for v in values):
            raise ValueError(f"{name} has a missing (None/NaN) or infinite label")
        kinds = {isinstance(v, str) for v in values}
        if len(kinds) > 1:
            raise ValueError(f"{name} mixes numbers and strings as labels (e.g. {values[0]!r}); "
                             "use one kind")
        if y.dtype == object:
            y = np.array(values)
        classes, encoded = np.unique(y, return_inverse=True)
        self.check_classes(classes, name)
        return encoded, classes

    def check_classes(self, classes, name="y"):
        if len(classes) < 2:
            raise ValueError(f"{name} has {len(classes)} class ({classes.tolist()}); a classifier "
                             "needs at least 2")

    def mean(self, f):
        return self.probabilities(f)

    def predict(self, f):
        return np.argmax(self.probabilities(f), axis=1)

    def deviation(self, f, g):
        """Σ_c |p_c(g) − p_c(f)| (n,): the paper's deviation."""
        return np.abs(self.probabilities(g) - self.probabilities(f)).sum(axis=1)


class Bernoulli(_Categorical):
    """Logistic loss ℓ = log(1 + e^f) − y f:  e = σ(f) − y,  Λ = σ(f)(1 − σ(f))."""

    name = "bernoulli"

    def check_classes(self, classes, name="y"):
        if len(classes) != 2:
            raise ValueError(f"{name} has {len(classes)} class(es) {classes.tolist()[:5]}; a "
                             "binary (logistic) model needs exactly 2")

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


class Categorical(_Categorical):
    """Softmax cross-entropy ℓ = logsumexp(f) − f_y:  e = p − onehot(y),  Λ = diag(p) − p pᵀ."""

    name = "categorical"

    def n_outputs(self, classes):
        return len(classes)

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
