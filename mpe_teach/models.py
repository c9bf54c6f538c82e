"""Linear, logistic and softmax regression with per-example weights and an L2 prior (mpe-math §1).

    L(θ; w) = Σ_i w_i ℓ_i(θ) + (δ/2) ||θ||²

Every model is scikit-learn shaped: ``Model(delta=...).fit(X, y, weights=None)`` returns self,
fitted attributes end in ``_`` and ``theta_`` is the flat parameter vector (P,). The intercept is
an ordinary parameter (the FIRST entry of each output's coefficients, as in statsmodels'
``add_constant``) and is penalised by δ like every other, so the identities of the math note hold
exactly. ``refit(weights)`` retrains with new weights, warm-started at ``theta_``: the ground truth
every MPE estimate is compared with.
"""
import copy
import warnings

import numpy as np
from scipy.linalg import cho_solve

from .likelihoods import Bernoulli, Categorical, Gaussian


class ConvergenceWarning(UserWarning):
    """The optimiser stopped before reaching its gradient tolerance."""


class Model:
    """What every model shares: validation, the weighted objective, refit and prediction.

    Subclasses define ``likelihood``, ``n_outputs_``, ``outputs(theta, X)`` (n, k),
    ``jacobians(X)`` (n, k, P) and ``_optimise(theta0)``.
    """

    task = "regression"  # or "classification"

    def __init__(self, delta=1.0, fit_intercept=True):
        self.delta = delta
        self.fit_intercept = fit_intercept

    # ---- fitting -------------------------------------------------------------------------
    def fit(self, X, y, weights=None):
        """Fit to X (n, d) and y (n,), each example weighted by weights (n,) (default ones)."""
        self.prepare(X, y, weights)
        self.theta_ = self._optimise(self._initial_theta())
        return self

    def prepare(self, X, y, weights=None):
        """Validate and store the data (X_, y_, weights_) without optimising: what ``fit`` does
        before it calls the optimiser, and what an outside training loop starts from."""
        X, y = self._check_X(X), np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have shape ({X.shape[0]},) to match X; got {y.shape}")
        self._check_hyperparameters()
        for stale in ("theta_", "classes_"):
            self.__dict__.pop(stale, None)
        self.X_, self.y_ = X, self._encode_targets(y)
        self.weights_ = check_weights(weights, X.shape[0])
        self._precision_cache = None
        self._setup(X)
        return self

    def refit(self, weights):
        """A NEW model retrained on the same data with these weights, warm-started at theta_."""
        self._check_fitted()
        new = copy.copy(self)
        new.weights_ = check_weights(weights, self.X_.shape[0])
        new._precision_cache = None
        new.theta_ = new._optimise(self.theta_.copy(), warm_start=True)
        return new

    def with_theta(self, theta):
        """A copy of this fitted model with its parameters replaced (no training)."""
        self._check_fitted()
        theta = np.asarray(theta, dtype=float)
        if theta.shape != self.theta_.shape:
            raise ValueError(f"theta must have shape {self.theta_.shape}; got {theta.shape}")
        new = copy.copy(self)
        new.theta_, new._precision_cache = theta, None
        return new

    def objective(self, theta, weights=None):
        """L(θ; w) = Σ_i w_i ℓ_i(θ) + (δ/2)||θ||² (autograd-differentiable)."""
        w = self.weights_ if weights is None else weights
        f = self.outputs(theta, self.X_)
        return (w * self.likelihood.nll(self.y_, f)).sum() + 0.5 * self.delta * (theta**2).sum()

    def gradient(self, theta=None):
        """∇L = Σ_i w_i J_iᵀ e_i + δθ, from the analytic Jacobians (n, k, P) and errors (n, k)."""
        theta = self.theta_ if theta is None else theta
        m = self.with_theta(theta)
        J, e = m.jacobians(), m.errors()
        return np.einsum("n,nk,nkp->p", self.weights_, e, J) + self.delta * theta

    # ---- what the MPE reads off a fitted model ---------------------------------------------
    def predict(self, X):
        """The outputs f (n,) for k = 1, (n, k) otherwise."""
        self._check_fitted()
        f = self.outputs(self.theta_, self._check_X(X, fitted=True))
        return f[:, 0] if f.shape[1] == 1 else f

    def train_outputs(self):
        """f_i(θ*) on the training inputs, always 2-D (n, k)."""
        return self.outputs(self.theta_, self.X_)

    def errors(self):
        """e_i = ∂ℓ_i/∂f (n, k) at θ*."""
        return self.likelihood.errors(self.y_, self.train_outputs())

    def curvatures(self):
        """Λ_i = ∂²ℓ_i/∂f² (n, k, k) at θ*."""
        return self.likelihood.curvatures(self.y_, self.train_outputs())

    def nll(self, X, y, outputs=None):
        """Per-example negative log-likelihood (n,) of (X, y), or of given outputs (n, k)."""
        f = self.outputs(self.theta_, self._check_X(X, fitted=True)) if outputs is None else outputs
        return self.likelihood.nll(self._encode_targets(np.asarray(y)), np.asarray(f))

    @property
    def n_params_(self):
        return self.theta_.shape[0]

    # ---- validation ------------------------------------------------------------------------
    def _check_X(self, X, fitted=False):
        try:
            X = np.asarray(X, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X must be numeric; could not convert it to floats ({exc})") from None
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array (n, d); got shape {X.shape}")
        if X.shape[0] == 0:
            raise ValueError("X has no rows")
        if not np.all(np.isfinite(X)):
            bad = np.argwhere(~np.isfinite(X))[0]
            raise ValueError(f"X has a NaN or infinite value (first at row {bad[0]}, column {bad[1]})")
        if fitted and X.shape[1] != self.X_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features; the model was fitted with {self.X_.shape[1]}")
        return X

    def _check_hyperparameters(self):
        if not np.isfinite(self.delta) or self.delta < 0:
            raise ValueError(f"delta (the L2 strength) must be a finite number >= 0; got {self.delta}")

    def _check_fitted(self):
        if not hasattr(self, "theta_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def _encode_targets(self, y):
        y = np.asarray(y, dtype=float)
        if not np.all(np.isfinite(y)):
            raise ValueError("y has a NaN or infinite value")
        return y

    def _setup(self, X):
        """Hook: build anything that depends on the data's shape (features, layer sizes)."""

    _precision_cache = None


def check_weights(weights, n):
    """Per-example weights (n,): default ones; negative, NaN or wrongly sized weights are errors."""
    if weights is None:
        return np.ones(n)
    w = np.array(weights, dtype=float)  # a copy: later edits to the caller's array must not leak in
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), one per example; got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite; got NaN or infinity")
    if np.any(w < 0):
        i = int(np.argmin(w))
        raise ValueError(f"weights must be >= 0 (0 removes an example); weight {i} is {w[i]}")
    return w


class _GLM(Model):
    """A generalised linear model f_i = Φ_i θ with a canonical link: J_i is analytic and the
    GGN is the exact Hessian, so Newton's method fits it (to ||∇L|| ≤ tol)."""

    def __init__(self, delta=1.0, fit_intercept=True, tol=1e-10, max_iter=100):
        super().__init__(delta=delta, fit_intercept=fit_intercept)
        self.tol, self.max_iter = tol, max_iter

    def features(self, X):
        """Φ = [1, X] (n, D) when fit_intercept, else X."""
        return np.hstack([np.ones((X.shape[0], 1)), X]) if self.fit_intercept else X

    def _setup(self, X):
        self.Phi_ = self.features(X)

    def _initial_theta(self):
        return np.zeros(self.Phi_.shape[1] * self.n_outputs_)

    def outputs(self, theta, X):
        Phi = self.Phi_ if X is getattr(self, "X_", None) else self.features(X)
        return Phi @ theta.reshape(Phi.shape[1], self.n_outputs_)

    def jacobians(self, X=None):
        """J_i = ∂f_i/∂θ (n, k, P). With θ = vec(W), W (D, k) row-major: J_i = Φ_iᵀ ⊗ I_k."""
        Phi = self.Phi_ if X is None else self.features(self._check_X(X, fitted=True))
        k = self.n_outputs_
        if k == 1:
            return Phi[:, None, :]
        return np.einsum("nj,cd->ncjd", Phi, np.eye(k)).reshape(Phi.shape[0], k, -1)

    def ggn(self, theta, weights):
        """Σ_i w_i J_iᵀ Λ_i J_i (P, P), using J_i = Φ_iᵀ ⊗ I_k (never forms J)."""
        Phi, k = self.Phi_, self.n_outputs_
        Lam = self.likelihood.curvatures(self.y_, self.outputs(theta, self.X_))
        D = Phi.shape[1]
        H = np.empty((D, k, D, k))
        for c in range(k):
            for d in range(c, k):
                block = Phi.T @ ((weights * Lam[:, c, d])[:, None] * Phi)
                H[:, c, :, d] = block
                H[:, d, :, c] = block
        return H.reshape(D * k, D * k)

    def _optimise(self, theta, warm_start=False):
        """Damped Newton: θ ← θ − t S⁻¹∇L with S = GGN + δI, backtracking on L.

        Stops when ||∇L|| ≤ tol; the Cholesky factor of S at the returned θ is kept so that
        ``Sensitivity`` can reuse the factorisation the fit already made."""
        w, P = self.weights_, theta.shape[0]
        value = self.objective(theta, w)
        for it in range(self.max_iter + 1):
            f = self.outputs(theta, self.X_)
            e = self.likelihood.errors(self.y_, f)
            grad = (self.Phi_.T @ (w[:, None] * e)).ravel() + self.delta * theta
            S = self.ggn(theta, w) + self.delta * np.eye(P)
            try:
                chol = np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                raise ValueError(
                    f"{type(self).__name__}: the precision S is singular (delta={self.delta}); "
                    "use delta > 0 or remove duplicate/constant features") from None
            gnorm = np.linalg.norm(grad)
            if gnorm <= self.tol:
                break
            if it == self.max_iter:
                warnings.warn(f"{type(self).__name__}: Newton stopped after {it} iterations with "
                              f"||grad|| = {gnorm:.2e} > tol = {self.tol:.0e} (separable data with "
                              "delta = 0?)", ConvergenceWarning, stacklevel=3)
                break
            step, t = cho_solve((chol, True), grad), 1.0
            while t > 1e-10:
                new_value = self.objective(theta - t * step, w)
                if new_value <= value + 1e-4 * t * (grad @ -step) or abs(new_value - value) <= 1e-15 * abs(value):
                    break
                t *= 0.5
            theta, value = theta - t * step, new_value
        self.n_iter_, self.grad_norm_ = it, gnorm
        if self.delta == 0 and self.task == "classification" and self._separates(theta):
            warnings.warn(f"{type(self).__name__}: the classes are perfectly separated and delta = 0, "
                          "so the loss has no minimum (the parameters grow until the gradient "
                          "underflows); use delta > 0", ConvergenceWarning, stacklevel=3)
        self._precision_cache = (theta.copy(), S, chol)
        return theta


class LinearRegression(_GLM):
    """Linear regression with Gaussian noise of known variance: ℓ_i = (y_i − f_i)²/(2σ²).

    Newton converges in one step (the loss is quadratic), so the MPE is exact here."""

    def __init__(self, delta=1.0, noise_var=1.0, fit_intercept=True, tol=1e-10, max_iter=100):
        super().__init__(delta=delta, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter)
        self.noise_var = noise_var

    n_outputs_ = 1

    def _check_hyperparameters(self):
        super()._check_hyperparameters()
        if not np.isfinite(self.noise_var) or self.noise_var <= 0:
            raise ValueError(f"noise_var must be a finite number > 0; got {self.noise_var}")
        self.likelihood = Gaussian(self.noise_var)


class _Classifier(_GLM):
    task = "classification"

    def _encode_targets(self, y):
        y = np.asarray(y)
        if hasattr(self, "classes_") and hasattr(self, "theta_"):
            idx = np.searchsorted(self.classes_, y)
            if np.any(idx >= len(self.classes_)) or np.any(self.classes_[np.minimum(idx, len(self.classes_) - 1)] != y):
                raise ValueError(f"y has labels not seen in training; the classes are {list(self.classes_)}")
            return idx
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("y has a NaN or infinite value")
        classes, encoded = np.unique(y, return_inverse=True)
        self._check_classes(classes)
        self.classes_ = classes
        return encoded

    def _separates(self, theta):
        """True when θ classifies every training example with positive weight correctly."""
        f = self.outputs(theta, self.X_)
        pred = (f[:, 0] > 0).astype(int) if f.shape[1] == 1 else np.argmax(f, axis=1)
        seen = self.weights_ > 0
        return bool(np.all(pred[seen] == self.y_[seen]))

    def predict_proba(self, X):
        """Class probabilities (n, n_classes), columns in the order of classes_."""
        self._check_fitted()
        return self.likelihood.probabilities(self.outputs(self.theta_, self._check_X(X, fitted=True)))

    def predict_class(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class LogisticRegression(_Classifier):
    """Binary logistic regression: f_i = Φ_i θ, P(y=1) = σ(f_i). y holds exactly two labels."""

    n_outputs_ = 1
    likelihood = Bernoulli()

    def _check_classes(self, classes):
        if len(classes) != 2:
            raise ValueError(f"y has {len(classes)} class(es) {classes.tolist()[:5]}; "
                             "LogisticRegression needs exactly 2")


class SoftmaxRegression(_Classifier):
    """Multinomial logistic regression: f_i = Wᵀ Φ_i ∈ R^k, θ = vec(W) with W (D, k) row-major.

    All k columns are kept (the model is over-parametrised; δ > 0 makes S invertible)."""

    likelihood = Categorical()

    def _check_classes(self, classes):
        if len(classes) < 2:
            raise ValueError(f"y has {len(classes)} class; SoftmaxRegression needs at least 2")

    def _check_hyperparameters(self):
        super()._check_hyperparameters()
        if self.delta == 0:
            raise ValueError("SoftmaxRegression needs delta > 0: with all k outputs "
                             "parametrised the loss is flat along one direction")

    @property
    def n_outputs_(self):
        return len(self.classes_)
