"""The model contract, and the generalised linear models (mpe-math §1, §4, §9).

    L(θ; w) = Σ_i w_i ℓ_i(θ) + ½ Σ_p δ_p θ_p²        (δ_p = δ, or 0 for an unpenalised intercept)

Every model — ``LinearRegression``, ``LogisticRegression``, ``SoftmaxRegression``,
``PoissonRegression`` and ``MLP`` — speaks scikit-learn and one contract:

    fit(X, y, weights=None) → self        decision_function(X) → the outputs f
    predict(X)        class labels (classifiers), the mean response (regression, counts)
    predict_proba(X)  class probabilities (classifiers)
    refit(weights, warm_start=None)       a NEW model converged from warm_start (default θ*)
                                          to the model's tolerance: the ground truth
    jacobians(X=None), errors(), curvatures()   J_i (n, k, P), e_i (n, k), Λ_i (n, k, k) at θ*
    get_params / set_params               so ``sklearn.base.clone`` works

Fitted attributes end in ``_``: ``theta_`` (P,), ``weights_``, ``likelihood_``, ``classes_``
(classifiers), ``prior_precision_`` (the δ_p), ``precision_`` (the factorised S = GGN + δ at θ*
that the fit made, for the GLMs), and the convergence report ``grad_norm_`` = max_p |∇L_p|,
``grad_scale_`` (the size of the terms that ∇L sums, see ``gradient_scale``), ``converged_``
(grad_norm_ ≤ tol · grad_scale_) and ``n_iter_``. The same test, relative to the problem's
scale, stops every model's optimiser.

The intercept is the FIRST row of each output's coefficients (as statsmodels' ``add_constant``)
and is penalised by δ unless ``penalize_intercept=False`` (scikit-learn's convention).
"""
import copy
import warnings

import numpy as np
from sklearn.base import BaseEstimator

from .blas import single_threaded_blas
from .curvature import FullPrecision, add_prior, ggn
from .likelihoods import Bernoulli, Categorical, Gaussian, Poisson
from .validation import check_float, check_matrix, check_vector, check_weights


STALLED_TOL = 1e-6
# The prior of a softmax model's unpenalised intercepts, per unit of total weight: small enough
# to move θ by ~1e-7, large enough that round-off along the flat direction stays ~1e-7 of Δθ.
NULL_PRIOR = 3e-9


class ConvergenceWarning(UserWarning):
    """The optimiser stopped before reaching its tolerance."""


class Model(BaseEstimator):
    """What every model shares. A subclass provides ``make_likelihood()``, ``initial_theta()``,
    ``outputs(theta, X)`` (n, k), ``jacobians(X=None)``, ``gradient_scale(theta, weights)``,
    ``_minimise(theta, warm) → (θ, stalled)`` and optionally ``_setup(X)``."""

    layered = False        # True for models with layers (the MLP: KFAC and last-layer apply)
    _copies_X = False      # True where _setup stores its own copy of X (so prepare need not)

    # ---- fitting -------------------------------------------------------------------------
    def fit(self, X, y, weights=None, warm_start=None):
        """Fit to X (n, d) and y (n,), each example weighted by weights (n,) (default ones).
        ``warm_start`` (optional) starts the optimiser at these parameters instead of the
        initial ones — e.g. the parameters of a model fitted to nearly the same data."""
        self.prepare(X, y, weights)
        if warm_start is None:
            self._finish(*self._minimise(self.theta_, warm=False))
        else:
            start = self._check_theta(warm_start, "warm_start")
            self._finish(*self._minimise(start, warm=True))
        return self

    def prepare(self, X, y, weights=None):
        """Validate and store the data (X_, y_, weights_, ...) and set theta_ to the initial θ_0
        without optimising: what ``fit`` does first, and what an outside training loop starts
        from. X and y may be NumPy arrays or pandas objects (feature names are kept)."""
        names = getattr(X, "columns", None)
        X = check_matrix("X", X, copy=not self._copies_X)
        self._check_hyperparameters()
        for stale in ("theta_", "classes_", "precision_", "feature_names_in_", "converged_",
                      "grad_norm_", "grad_scale_", "n_iter_"):
            self.__dict__.pop(stale, None)
        self.likelihood_ = self.make_likelihood()
        if np.ndim(y) != 1 or len(y) != X.shape[0]:
            raise ValueError(f"y must have shape ({X.shape[0]},), one value per row of X; "
                             f"got {np.shape(y)}")
        self.y_, classes = self.likelihood_.encode(y)
        if classes is not None:
            self.classes_ = classes
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.X_, self.n_features_in_ = X, X.shape[1]
        self.weights_ = check_weights(weights, X.shape[0])
        self.n_outputs_ = self.likelihood_.n_outputs(classes)
        self._setup(X)
        self.theta_ = self.initial_theta()
        self.prior_precision_ = self._prior_precision()
        return self

    def refit(self, weights, warm_start=None):
        """A NEW model retrained on the same data with these weights, converged from
        ``warm_start`` (default θ*; e.g. θ* + Δθ, the MPE's prediction) to the model's
        tolerance. A refit that cannot converge warns and has ``converged_`` False."""
        self._check_fitted()
        new = copy.copy(self)
        new.weights_ = check_weights(weights, self.X_.shape[0])
        start = self.theta_ if warm_start is None else self._check_theta(warm_start, "warm_start")
        new.precision_ = None
        new._finish(*new._minimise(start.copy(), warm=True))
        return new

    def with_theta(self, theta):
        """A copy of this fitted model with its parameters replaced (no training)."""
        self._check_fitted()
        new = copy.copy(self)
        new.theta_ = self._check_theta(theta, "theta")
        for stale in ("precision_", "converged_", "grad_norm_", "grad_scale_", "n_iter_"):
            new.__dict__.pop(stale, None)
        return new

    def _finish(self, theta, stalled=False):
        """Store θ and report convergence (the optimiser set grad_norm_, grad_scale_, n_iter_).
        ``stalled``: no step decreases L any more — a minimum to machine precision, accepted
        while the gradient is within STALLED_TOL of its scale (round-off in an ill-conditioned
        problem), a failure beyond that."""
        self.theta_ = theta
        tol = max(self.tol, STALLED_TOL) if stalled else self.tol
        self.converged_ = bool(self.grad_norm_ <= tol * self.grad_scale_)
        if self.converged_:
            return
        message = (f"{type(self).__name__}: the fit stopped after {self.n_iter_} iterations with "
                   f"max|∇L| = {self.grad_norm_:.2e}, {self.grad_norm_ / max(self.grad_scale_, 1e-300):.1e} "
                   f"of the gradient's scale (tol = {self.tol:g})")
        if self.is_separated(self.theta_):
            message += ("; the classes are perfectly separated and delta = 0, so the loss has no "
                        "minimum: use delta > 0")
        warnings.warn(message, ConvergenceWarning, stacklevel=3)

    def is_separated(self, theta=None):
        """True for a classifier without a prior whose θ classifies every training example
        with positive weight correctly: then the loss has no minimum (θ grows forever)."""
        theta = self.theta_ if theta is None else theta
        if not self.likelihood_.is_classifier or np.any(self.prior_precision_):
            return False
        seen = self.weights_ > 0
        pred = self.likelihood_.predict(self.outputs(theta, self.X_))
        return bool(np.all(pred[seen] == self.y_[seen]))

    # ---- the objective ---------------------------------------------------------------------
    def objective(self, theta, weights=None):
        """L(θ; w) = Σ_i w_i ℓ_i(θ) + ½ Σ_p δ_p θ_p² (autograd-differentiable)."""
        w = self.weights_ if weights is None else weights
        f = self.outputs(theta, self.X_)
        return (w * self.likelihood_.nll(self.y_, f)).sum() + 0.5 * (self.prior_precision_ * theta**2).sum()

    def ggn(self, theta=None, weights=None):
        """Σ_i w_i J_iᵀ Λ_i J_i (P, P) at θ (default θ*)."""
        m = self if theta is None else self.with_theta(theta)
        return ggn(m.jacobians(), m.curvatures(), self.weights_ if weights is None else weights)

    def precision_matrix(self, theta=None, weights=None):
        """S = GGN + diag(δ_p) (P, P): the Laplace / Newton precision at θ (default θ*)."""
        return add_prior(self.ggn(theta, weights), self.prior_precision_)

    # ---- what the MPE reads off a fitted model ---------------------------------------------
    def decision_function(self, X):
        """The outputs f: (n,) for k = 1, (n, k) otherwise."""
        X = self._check_X(X)
        f = self.outputs(self.theta_, X)
        return f[:, 0] if f.shape[1] == 1 else f

    def predict(self, X):
        """Class labels for classifiers; the mean response (a value, a rate) otherwise."""
        X = self._check_X(X)
        f = self.outputs(self.theta_, X)
        pred = self.likelihood_.predict(f)
        return self.classes_[pred] if self.likelihood_.is_classifier else pred

    def predict_proba(self, X):
        """Class probabilities (n, n_classes), columns in the order of classes_."""
        self._check_fitted()
        if not self.likelihood_.is_classifier:
            raise TypeError(f"{type(self).__name__} is not a classifier; use predict for its mean")
        return self.likelihood_.probabilities(self.outputs(self.theta_, self._check_X(X)))

    def train_outputs(self):
        """f_i(θ*) on the training inputs, always 2-D (n, k)."""
        return self.outputs(self.theta_, self.X_)

    def errors(self):
        """e_i = ∂ℓ_i/∂f (n, k) at θ*."""
        return self.likelihood_.errors(self.y_, self.train_outputs())

    def curvatures(self):
        """Λ_i = ∂²ℓ_i/∂f² (n, k, k) at θ*."""
        return self.likelihood_.curvatures(self.y_, self.train_outputs())

    def nll(self, X, y, outputs=None):
        """Per-example negative log-likelihood (n,) of (X, y), or of given outputs (n, k)."""
        f = self.outputs(self.theta_, self._check_X(X)) if outputs is None else np.asarray(outputs)
        return self.likelihood_.nll(self.encode_targets(y, len(f)), f)

    def encode_targets(self, y, n):
        """y (n,) as the fitted likelihood takes it: class indices into classes_ for classifiers
        (unseen labels are an error), floats otherwise."""
        self._check_fitted()
        if not self.likelihood_.is_classifier:
            if np.ndim(y) != 1 or len(y) != n:
                raise ValueError(f"y must have shape ({n},); got {np.shape(y)}")
            return self.likelihood_.encode(y)[0]
        y = check_vector("y", y, n, numeric=False)
        lookup = {label: c for c, label in enumerate(self.classes_.tolist())}
        idx = np.array([lookup.get(label, -1) for label in y.tolist()], dtype=int)
        if np.any(idx < 0):
            raise ValueError(f"y has labels not seen in training (e.g. {y[idx < 0][0]!r}); the "
                             f"classes are {self.classes_.tolist()}")
        return idx

    @property
    def n_params_(self):
        return self.theta_.shape[0]

    # ---- validation ------------------------------------------------------------------------
    def _check_X(self, X):
        self._check_fitted()
        return check_matrix("X", X, n_features=self.n_features_in_)

    def _check_theta(self, theta, name):
        theta = np.array(theta, dtype=float)
        if theta.shape != self.theta_.shape or not np.all(np.isfinite(theta)):
            raise ValueError(f"{name} must be a finite vector of shape {self.theta_.shape}; "
                             f"got shape {theta.shape}")
        return theta

    def _check_hyperparameters(self):
        check_float("delta", self.delta, low=0.0)
        check_float("tol", self.tol, low=0.0, low_open=True)

    def _check_fitted(self):
        if not hasattr(self, "theta_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def _prior_precision(self):
        return np.full(self.theta_.shape[0], float(self.delta))

    def _setup(self, X):
        """Hook: build anything that depends on the data's shape (features, layer sizes)."""


def newton_step(model, theta, grad, precision, weights=None, max_halvings=34):
    """One damped Newton step θ − t S⁻¹∇L on L(θ; w), t = 1, ½, ¼, … until L decreases enough
    (Armijo). Returns (new θ, t); t = 0 when no step decreases L (θ is a minimum to machine
    precision). Shared by the GLM fit and ``optim.Newton``."""
    direction = precision.solve(grad)
    value, t = model.objective(theta, weights), 1.0
    slack = 16 * np.finfo(float).eps * abs(value)      # L itself is only known to round-off
    for _ in range(max_halvings):
        new = theta - t * direction
        if model.objective(new, weights) <= value - 1e-4 * t * (grad @ direction) + slack:
            return new, t
        t *= 0.5
    return theta, 0.0


class _GLM(Model):
    """A generalised linear model f_i = Φ_i θ with a canonical link: J_i is analytic and the
    GGN is the exact Hessian, so Newton's method fits it. Φ = [1, X] with an intercept."""

    def __init__(self, delta=1.0, fit_intercept=True, penalize_intercept=True, tol=1e-12, max_iter=100):
        self.delta, self.fit_intercept, self.penalize_intercept = delta, fit_intercept, penalize_intercept
        self.tol, self.max_iter = tol, max_iter

    _copies_X = True

    def features(self, X):
        """Φ = [1, X] (n, D) when fit_intercept, else X (always a new array)."""
        Phi = np.empty((X.shape[0], X.shape[1] + int(bool(self.fit_intercept))))
        Phi[:, :1 if self.fit_intercept else 0] = 1.0
        Phi[:, 1 if self.fit_intercept else 0:] = X
        return Phi

    def _setup(self, X):
        """Φ is the model's one copy of the data; X_ is a read-only view into it."""
        self.Phi_ = self.features(X)
        self.Phi_.flags.writeable = False
        self._abs_Phi = None
        self._view_X()

    def _view_X(self):
        self.X_ = self.Phi_[:, 1:] if self.fit_intercept else self.Phi_

    def __getstate__(self):
        """Pickled (e.g. for parallel refits) without the view X_ and the |Φ| cache: one copy of
        the data travels, not three."""
        state = super().__getstate__()
        if "Phi_" in state:
            state = {**state, "_abs_Phi": None}
            state.pop("X_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "Phi_" in state:
            self.Phi_.flags.writeable = False
            self._view_X()

    def initial_theta(self):
        return np.zeros(self.Phi_.shape[1] * self.n_outputs_)

    def _prior_precision(self):
        prior = super()._prior_precision()
        if self.fit_intercept and not self.penalize_intercept:
            prior[:self.n_outputs_] = 0.0          # row 0 of W (D, k): the intercepts
        return prior

    def outputs(self, theta, X):
        Phi = self.Phi_ if X is getattr(self, "X_", None) else self.features(X)
        return Phi @ theta.reshape(Phi.shape[1], self.n_outputs_)

    def jacobians(self, X=None):
        """J_i = ∂f_i/∂θ (n, k, P). With θ = vec(W), W (D, k) row-major: J_i = Φ_iᵀ ⊗ I_k."""
        Phi = self.Phi_ if X is None else self.features(self._check_X(X))
        k = self.n_outputs_
        if k == 1:
            return Phi[:, None, :]
        return np.einsum("nj,cd->ncjd", Phi, np.eye(k)).reshape(Phi.shape[0], k, -1)

    def gradient(self, theta=None, weights=None):
        """∇L = Σ_i w_i J_iᵀ e_i + δθ = vec(Φᵀ (w e)) + δθ."""
        theta = self.theta_ if theta is None else theta
        w = self.weights_ if weights is None else weights
        e = self.likelihood_.errors(self.y_, self.outputs(theta, self.X_))
        return (self.Phi_.T @ (w[:, None] * e)).ravel() + self.prior_precision_ * theta

    def gradient_scale(self, theta, weights):
        """The size of what ∇L sums: max_p of Σ_i w_i |J_i|ᵀ(|e_i| + |Λ_i f_i|) + δ_p|θ_p|.
        The |Λf| term is the size of the curvature part that a Newton step cancels, so the
        test ‖∇L‖∞ ≤ tol · scale is met at the same relative precision for any units of X or y."""
        f = self.outputs(theta, self.X_)
        lik = self.likelihood_
        Lam = lik.curvatures(self.y_, f)
        Lf = Lam[:, :, 0] * f if f.shape[1] == 1 else np.einsum("nkl,nl->nk", Lam, f)
        size = np.abs(lik.errors(self.y_, f)) + np.abs(Lf)
        if getattr(self, "_abs_Phi", None) is None:
            self._abs_Phi = np.abs(self.Phi_)
        return float(((self._abs_Phi.T @ (weights[:, None] * size)).ravel()
                      + self.prior_precision_ * np.abs(theta)).max())

    def ggn(self, theta=None, weights=None):
        """Σ_i w_i J_iᵀ Λ_i J_i (P, P), using J_i = Φ_iᵀ ⊗ I_k (never forms J)."""
        theta = self.theta_ if theta is None else theta
        w = self.weights_ if weights is None else weights
        Phi, k = self.Phi_, self.n_outputs_
        Lam = self.likelihood_.curvatures(self.y_, self.outputs(theta, self.X_))
        if k == 1:              # w_i Λ_i ≥ 0: Φᵀ diag(wΛ) Φ = AᵀA with A = √(wΛ) Φ (one fast product)
            wl = w * Lam[:, 0, 0]
            if np.all(wl == wl[0]):                              # e.g. unweighted least squares
                return wl[0] * (Phi.T @ Phi)
            A = np.sqrt(wl)[:, None] * Phi
            return A.T @ A
        n_features = Phi.shape[1]
        H = np.empty((n_features, k, n_features, k))
        for c in range(k):
            for d in range(c, k):
                block = Phi.T @ ((w * Lam[:, c, d])[:, None] * Phi)
                H[:, c, :, d] = block
                H[:, d, :, c] = block
        return H.reshape(n_features * k, n_features * k)

    def _precision_at(self, theta, weights):
        try:
            return FullPrecision(add_prior(self.ggn(theta, weights), self.prior_precision_), exact=True)
        except ValueError:
            raise ValueError(
                f"{type(self).__name__}: the precision S = GGN + δI is singular (delta={self.delta:g}): "
                "use delta > 0, or remove constant or duplicate features") from None

    def _minimise(self, theta, warm):
        """Newton's method: θ ← θ − t S⁻¹∇L until ‖∇L‖∞ ≤ tol · gradient_scale. S is factorised
        once per iteration — once in all for a quadratic loss, whose S does not depend on θ —
        and the factor at the returned θ is kept as ``precision_`` for ``Sensitivity``. BLAS runs
        single-threaded: the products are n × P with small P, where waking a second thread
        costs more than it saves (measured 12 ms against 33 ms for fit + LOO, n = 20000, P = 51)."""
        with single_threaded_blas():
            return self._newton(theta)

    def _newton(self, theta):
        w, precision, stalled = self.weights_, None, False
        quadratic = self.likelihood_.constant_curvature
        for it in range(self.max_iter + 1):
            grad = self.gradient(theta, w)
            gmax = float(np.abs(grad).max())
            if precision is None or not quadratic:
                try:
                    precision = self._precision_at(theta, w)
                except ValueError:
                    if it > 0 and self.is_separated(theta):   # Λ underflowed on the way to infinity
                        precision, scale = None, self.gradient_scale(theta, w)
                        break
                    raise
            # a quadratic's first step is exact: test convergence after it, not before
            first_exact_step = quadratic and it == 0 and gmax > 0 and self.max_iter > 0
            if not first_exact_step:
                scale = self.gradient_scale(theta, w)
                if gmax <= self.tol * scale or it == self.max_iter:
                    break
            if quadratic:
                theta, t = theta - precision.solve(grad), 1.0
            else:
                theta, t = newton_step(self, theta, grad, precision, w)
            if t == 0.0:
                stalled = True
                break
        self.n_iter_, self.grad_norm_, self.grad_scale_, self.precision_ = it, gmax, scale, precision
        return theta, stalled


class LinearRegression(_GLM):
    """Linear regression with Gaussian noise of known variance: ℓ_i = (y_i − f_i)²/(2σ²).

    The loss is quadratic: one factorisation of S is the whole fit, and the MPE is exact."""

    def __init__(self, delta=1.0, noise_var=1.0, fit_intercept=True, penalize_intercept=True,
                 tol=1e-12, max_iter=100):
        super().__init__(delta, fit_intercept, penalize_intercept, tol, max_iter)
        self.noise_var = noise_var

    def make_likelihood(self):
        return Gaussian(check_float("noise_var", self.noise_var, low=0.0, low_open=True))


class PoissonRegression(_GLM):
    """Poisson regression for counts y_i >= 0 with a log link: rate μ_i = exp(Φ_i θ)."""

    def make_likelihood(self):
        return Poisson()


class LogisticRegression(_GLM):
    """Binary logistic regression: f_i = Φ_i θ, P(y=1) = σ(f_i). y holds exactly two labels."""

    def make_likelihood(self):
        return Bernoulli()


class SoftmaxRegression(_GLM):
    """Multinomial logistic regression: f_i = Wᵀ Φ_i ∈ R^k, θ = vec(W) with W (D, k) row-major.

    All k columns are kept (the model is over-parametrised; δ > 0 makes S invertible). With
    penalize_intercept=False the loss is also flat along "add c to every intercept": the
    intercepts then get the tiny prior NULL_PRIOR · Σ_i w_i, which picks Σ_c b_c = 0
    (scikit-learn's symmetric solution) and moves θ by a relative ~1e-7."""

    def make_likelihood(self):
        return Categorical()

    def _prior_precision(self):
        prior = super()._prior_precision()
        if self.fit_intercept and not self.penalize_intercept:
            prior[:self.n_outputs_] = NULL_PRIOR * self.weights_.sum()
        return prior

    def _check_hyperparameters(self):
        super()._check_hyperparameters()
        if self.delta == 0:
            raise ValueError("SoftmaxRegression needs delta > 0: with all k outputs "
                             "parametrised the loss is flat along one direction")
