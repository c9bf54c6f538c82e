"""Conjugate models: the memory-perturbation equation (MPE) is exact here.

In a conjugate model the posterior's natural parameters are a sum of per-example pieces
(shared/mpe-math.md, sections 2-3):

    λ* = λ_0 + Σ_i w_i λ̃_i          λ_0: the prior, λ̃_i: the *memory* of example i

and the memory λ̃_i (example i's sufficient statistics) does not depend on λ. So changing
the weights w -> w' is exact, with no refit:

    λ(w') = λ* + Σ_j (w_j' - w_j) λ̃_j                                   (MPE)

Per-example weights are the single knob: removal is w_j' = 0, duplication w_j' = 2.
Every class has `memory(i)`, `perturb(i, weight)` (the MPE: add memories) and
`refit(weights)` (recompute from scratch), so the two can be compared.
"""
import copy
import inspect
from dataclasses import dataclass

import numpy as np

from .validation import (check_float, check_indices, check_matrix, check_new_weights, check_vector,
                         check_weights)


@dataclass(frozen=True)
class GaussianNaturalParams:
    """Natural parameters λ = (η1, η2) = (S m, -S/2) of N(m, S⁻¹). eta1: (..., P), eta2: (..., P, P)."""
    eta1: np.ndarray
    eta2: np.ndarray


# ---------------------------------------------------------------- one function per equation
def beta_bernoulli_memory(x):
    """λ̃_i = (x_i, 1 - x_i): what x_i adds to (a - 1, b - 1). x: (...,) in {0, 1} -> (..., 2)."""
    x = np.asarray(x, dtype=float)
    return np.stack([x, 1.0 - x], axis=-1)


def gaussian_mean_memory(x, noise_var):
    """λ̃_i = (x_i / σ², -1 / (2σ²)): what x_i adds to (S m, -S/2). x: (...,) -> (..., 2)."""
    x = np.asarray(x, dtype=float)
    return np.stack([x / noise_var, np.full_like(x, -0.5 / noise_var)], axis=-1)


def linear_regression_memory(X, y, noise_var):
    """λ̃_i = (x_i y_i / σ², -x_i x_iᵀ / (2σ²)), i.e. (H_i m - g_i, -H_i / 2) for the squared loss.

    X: (..., P) design rows, y: (...,) -> GaussianNaturalParams with eta1 (..., P), eta2 (..., P, P).
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    return GaussianNaturalParams(X * y[..., None] / noise_var,
                                 -0.5 * X[..., :, None] * X[..., None, :] / noise_var)


def mpe_update(natural, memories, delta):
    """The MPE: λ* + Σ_j Δ_j λ̃_j. memories: stacked on axis 0 (m, ...), delta: (m,) weight changes."""
    if isinstance(natural, GaussianNaturalParams):
        return GaussianNaturalParams(mpe_update(natural.eta1, memories.eta1, delta),
                                     mpe_update(natural.eta2, memories.eta2, delta))
    return natural + np.tensordot(delta, memories, axes=1)


# ---------------------------------------------------------------- input checks
def _check_array(name, a, ndim):
    return check_matrix(name, a) if ndim == 2 else check_vector(name, a, np.size(a))


def _check_index(i, n):
    """An example index (kept scalar) or a 1-D array of distinct indices."""
    if np.ndim(i) > 1:
        raise ValueError(f"i must be an integer or a 1-D array of integers; got {i!r}")
    idx = check_indices(i, n)
    return idx[0] if np.ndim(i) == 0 else idx


class _ConjugateModel:
    """Shared MPE machinery. Subclasses define fit, _data, _memories(idx), _set_posterior(λ)."""

    def memory(self, i):
        """λ̃_i of example i (int), or the stacked memories of a group (1-D int array, axis 0)."""
        return self._memories(_check_index(i, self.n_samples_))

    def perturb(self, i, weight=0.0):
        """New fitted model with w_i -> weight, from the MPE λ* + Σ_j (w_j' - w_j) λ̃_j (no refit).

        i: int or 1-D int array (a group); weight: scalar or array shaped like i, >= 0.
        """
        idx = np.atleast_1d(_check_index(i, self.n_samples_))
        new_w = check_new_weights(weight, idx.shape)
        natural = mpe_update(self.natural_params_, self._memories(idx), new_w - self.weights_[idx])
        out = copy.copy(self)
        out.weights_ = self.weights_.copy()
        out.weights_[idx] = new_w
        out._set_posterior(natural)
        return out

    def refit(self, weights):
        """New model fitted from scratch on the same data with the given weights (n,)."""
        params = {k: getattr(self, k) for k in list(inspect.signature(type(self)).parameters)}
        return type(self)(**params).fit(*self._data(), weights=weights)

    def _init_weights(self, weights):
        self.weights_ = (np.ones(self.n_samples_) if weights is None
                         else check_weights(weights, self.n_samples_))
        return self.weights_


class BetaBernoulli(_ConjugateModel):
    """Beta(a0, b0) prior on p, Bernoulli(p) observations x_i in {0, 1} with weights w_i.

    Posterior Beta(a, b) with natural parameters λ = (a - 1, b - 1):
        a - 1 = a0 - 1 + Σ_i w_i x_i,        b - 1 = b0 - 1 + Σ_i w_i (1 - x_i)
    Fitted: natural_params_ (2,), a_, b_, mean_ = a / (a + b), weights_ (n,), n_samples_.
    """

    def __init__(self, a0=1.0, b0=1.0):
        self.a0, self.b0 = a0, b0

    def fit(self, x, weights=None):
        """x: (n,) of 0/1; weights: (n,) >= 0 or None (all ones). Returns self."""
        a0 = check_float("a0", self.a0, low=0.0, low_open=True)
        b0 = check_float("b0", self.b0, low=0.0, low_open=True)
        x = _check_array("x", x, 1)
        if not np.all((x == 0) | (x == 1)):
            raise ValueError(f"x must contain only 0 and 1; got {np.unique(x[(x != 0) & (x != 1)])[:5]}")
        self._x, self.n_samples_ = x, x.size
        w = self._init_weights(weights)
        self._set_posterior(np.array([a0 - 1 + w @ x, b0 - 1 + w @ (1 - x)]))
        return self

    def _data(self):
        return (self._x,)

    def _memories(self, idx):
        return beta_bernoulli_memory(self._x[idx])

    def _set_posterior(self, natural):
        self.natural_params_ = natural
        self.a_, self.b_ = natural[0] + 1, natural[1] + 1
        self.mean_ = self.a_ / (self.a_ + self.b_)


class GaussianMean(_ConjugateModel):
    """Unknown mean μ ~ N(mu0, 1/tau0), observations x_i ~ N(μ, noise_var) with weights w_i.

    Posterior N(m, 1/S), natural parameters λ = (S m, -S/2):
        S = tau0 + Σ_i w_i / σ²,        S m = tau0 mu0 + Σ_i w_i x_i / σ²
    Fitted: natural_params_ (2,), mean_ = m, precision_ = S, weights_ (n,), n_samples_.
    """

    def __init__(self, mu0=0.0, tau0=1.0, noise_var=1.0):
        self.mu0, self.tau0, self.noise_var = mu0, tau0, noise_var

    def fit(self, x, weights=None):
        """x: (n,) real; weights: (n,) >= 0 or None (all ones). Returns self."""
        mu0, tau0 = check_float("mu0", self.mu0), check_float("tau0", self.tau0, low=0.0, low_open=True)
        s2 = check_float("noise_var", self.noise_var, low=0.0, low_open=True)
        self._x = _check_array("x", x, 1)
        self.n_samples_ = self._x.size
        w = self._init_weights(weights)
        S = tau0 + w.sum() / s2
        self._set_posterior(np.array([tau0 * mu0 + w @ self._x / s2, -S / 2]))
        return self

    def _data(self):
        return (self._x,)

    def _memories(self, idx):
        return gaussian_mean_memory(self._x[idx], self.noise_var)

    def _set_posterior(self, natural):
        self.natural_params_ = natural
        self.precision_ = -2 * natural[1]
        self.mean_ = natural[0] / self.precision_


class BayesianLinearRegression(_ConjugateModel):
    """θ ~ N(0, I/delta), y_i ~ N(x_iᵀ θ, noise_var) with weights w_i; X: (n, D), y: (n,).

    With fit_intercept=True a column of ones is put FIRST, so θ = (intercept, coef) has
    P = D + 1 entries and the intercept is penalised like every other entry.
    Posterior N(m, S⁻¹), natural parameters λ = (S m, -S/2):
        S = Xᵀ W X / σ² + δ I,        S m = Xᵀ W y / σ²
    Fitted: mean_ (P,), precision_ (P, P), eta1_ = S m (P,), eta2_ = -S/2 (P, P),
    natural_params_ (GaussianNaturalParams), coef_ (D,), intercept_, weights_ (n,).
    """

    def __init__(self, delta=1.0, noise_var=1.0, fit_intercept=True):
        self.delta, self.noise_var, self.fit_intercept = delta, noise_var, fit_intercept

    def _design(self, X):
        return np.hstack([np.ones((X.shape[0], 1)), X]) if self.fit_intercept else X

    def fit(self, X, y, weights=None):
        """X: (n, D), y: (n,); weights: (n,) >= 0 or None (all ones). Returns self."""
        delta = check_float("delta", self.delta, low=0.0)
        s2 = check_float("noise_var", self.noise_var, low=0.0, low_open=True)
        X, y = _check_array("X", X, 2), _check_array("y", y, 1)
        if y.size != X.shape[0]:
            raise ValueError(f"y must have one entry per row of X ({X.shape[0]}); got {y.size}")
        self._X, self._y, (self.n_samples_, self.n_features_in_) = X, y, X.shape
        w = self._init_weights(weights)
        Phi = self._design(X)
        S = Phi.T @ (w[:, None] * Phi) / s2 + delta * np.eye(Phi.shape[1])
        self._set_posterior(GaussianNaturalParams(Phi.T @ (w * y) / s2, -S / 2))
        return self

    def predict(self, X):
        """Posterior-mean prediction x_iᵀ m. X: (m, D) -> (m,)."""
        X = _check_array("X", X, 2)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have {self.n_features_in_} columns; got {X.shape[1]}")
        return self._design(X) @ self.mean_

    def _data(self):
        return self._X, self._y

    def _memories(self, idx):
        Phi = self._design(self._X[np.atleast_1d(idx)])  # (m, P) design rows
        return linear_regression_memory(Phi.reshape(np.shape(idx) + (-1,)), self._y[idx],
                                        self.noise_var)

    def _set_posterior(self, natural):
        self.natural_params_, self.eta1_, self.eta2_ = natural, natural.eta1, natural.eta2
        self.precision_ = -2 * natural.eta2
        if np.linalg.matrix_rank(self.precision_) < self.precision_.shape[0]:
            raise np.linalg.LinAlgError("posterior precision S is singular (delta = 0 and X "
                                        "rank-deficient): use delta > 0 or keep more examples")
        self.mean_ = np.linalg.solve(self.precision_, natural.eta1)
        self.intercept_ = self.mean_[0] if self.fit_intercept else 0.0
        self.coef_ = self.mean_[1:] if self.fit_intercept else self.mean_
