"""From a fitted scikit-learn linear model to the same model in mpe_teach (mpe-math §1).

    from_sklearn(estimator, X, y, sample_weight=None) → a fitted mpe_teach model

scikit-learn writes each objective in its own scale; every one is a positive multiple of

    L(θ; w) = Σ_i w_i ℓ_i(θ) + ½ Σ_p δ_p θ_p²,      w = sample_weight, δ_p = 0 for the intercepts

so it has the same minimiser once δ is read off correctly:

    Ridge               ||y − f||²_s + alpha ||coef||²       = 2 L   (σ² = 1)   δ = alpha
    LinearRegression    ||y − f||²_s                         = 2 L   (σ² = 1)   δ = 0
    LogisticRegression  C Σ s_i ℓ_i + ½ ||coef||²            = C L              δ = 1/C
    PoissonRegressor    Σ s_i ℓ_i / Σ s_i + ½ alpha ||coef||² = L / Σ s_i        δ = alpha Σ_i s_i

(``LogisticRegression`` as its solvers implement it: they scale the penalty by 1/(C Σ s_i) and
average the loss.) The equivalent mpe_teach model is fitted by mpe_teach's own Newton solver,
so its precision ``precision_`` and convergence report are its own; the function then checks
that the estimator's ``intercept_`` and ``coef_`` are a minimum of the same L on the data given
(a relative gradient within ``MISMATCH``), which catches a wrong X, y or sample_weight.

Two things do not carry over unchanged:

* PoissonRegressor's δ = alpha Σ s_i follows the weights, mpe_teach's δ does not: removing an
  example in mpe_teach keeps δ, refitting scikit-learn with that row's weight 0 also lowers its
  penalty to alpha (Σ s_i − 1). Compare with a scikit-learn refit at alpha Σ s / (Σ s − 1).
* Multinomial LogisticRegression (≥ 3 classes) keeps all k intercepts unpenalised, and the loss
  does not change when the same constant is added to every intercept: S is singular along that
  direction and has no Cholesky factor. scikit-learn returns the symmetric solution Σ_c b_c = 0.
  ``SoftmaxRegression(penalize_intercept=False)`` gives the k intercepts a tiny prior
  ε = ``models.NULL_PRIOR`` · Σ_i w_i, which selects that same solution. Its cost,
  measured against the ε → 0 limit on standardised data: θ moves by 1e-8 to 4e-7 relative
  (1e-4 near separation, where p(1 − p) is small), the LOO probabilities by 1e-7; Δθ's common
  intercept shift carries round-off amplified by 1/ε (3e-5 of the largest Δθ), and the
  prediction variances V_i a term ≈ 1/(kε) along (1, …, 1): directions that no probability,
  no LOO loss and no Cook's distance depends on.
"""
import numpy as np
from scipy import sparse
from sklearn import linear_model as sk
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .models import LinearRegression, LogisticRegression, PoissonRegression, SoftmaxRegression
from .validation import check_weights

# The estimator's coefficients must make max|∇L| at most this fraction of the gradient's scale
# (``gradient_scale``); scikit-learn's default tol = 1e-4 leaves 2e-4 to 5e-4 (measured), wrong
# data or a forgotten sample_weight 2e-2 to 0.8.
MISMATCH = 1e-2
SUPPORTED = ("Ridge", "LinearRegression", "LogisticRegression", "PoissonRegressor")


def from_sklearn(estimator, X, y, sample_weight=None):
    """The mpe_teach model equivalent to a fitted scikit-learn ``estimator``, fitted by mpe_teach
    on the same data: X (n, d) (an array or a DataFrame), y (n,), sample_weight (n,) or None,
    exactly as they were passed to ``estimator.fit``.

    Ridge, LinearRegression → LinearRegression (noise_var = 1); LogisticRegression with an L2
    penalty (or none) → LogisticRegression for two classes, SoftmaxRegression for more;
    PoissonRegressor → PoissonRegression. Intercepts are unpenalised, as in scikit-learn.
    Anything else raises a TypeError (another kind of estimator) or a ValueError (an option
    without an mpe_teach equivalent, an unfitted estimator, data that do not match its fit)."""
    name = type(estimator).__name__
    convert = CONVERTERS.get(type(estimator))
    if convert is None:
        hint = ("; pass its final step and the transformed X" if hasattr(estimator, "steps") else
                "; refit the plain estimator at the chosen alpha_ or C_" if name.endswith("CV") else "")
        raise TypeError(f"from_sklearn supports the scikit-learn estimators {', '.join(SUPPORTED)}; "
                        f"got {name}{hint}")
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise ValueError(f"{name} is not fitted yet: call its fit(X, y) first") from None
    n = _check_X(estimator, X)
    if sample_weight is not None and np.ndim(sample_weight) == 0:   # a float, as sklearn allows
        sample_weight = np.full(n, sample_weight)
    weights = check_weights(sample_weight, n, name="sample_weight")
    model, theta = convert(estimator, weights)
    _check_y(estimator, y, len(weights))
    try:
        model.fit(X, y, weights)
    except ValueError as exc:
        raise ValueError(f"from_sklearn({name}): the equivalent {type(model).__name__} cannot be "
                         f"fitted: {exc}") from exc
    _check_same_minimum(name, model, theta)
    return model


# ---- one converter per estimator: (the unfitted mpe_teach model, sklearn's θ) ------------------
def _ridge(est, weights):
    if getattr(est, "positive", False):
        raise ValueError("Ridge with positive=True constrains the coefficients; mpe_teach's "
                         "LinearRegression has no constraints")
    alpha = np.asarray(est.alpha, dtype=float)
    if alpha.size != 1:
        raise ValueError(f"Ridge with one alpha per target ({alpha.size}) is a multi-output model; "
                         "mpe_teach fits one target")
    return _linear(est, float(alpha.ravel()[0]))


def _ols(est, weights):
    if getattr(est, "positive", False):
        raise ValueError("LinearRegression with positive=True constrains the coefficients; "
                         "mpe_teach's LinearRegression has no constraints")
    return _linear(est, 0.0)


def _linear(est, delta):
    coef = np.asarray(est.coef_, dtype=float)
    if coef.ndim != 1:
        raise ValueError(f"{type(est).__name__} was fitted to {coef.shape[0]} targets (coef_ of "
                         f"shape {coef.shape}); mpe_teach fits one target")
    model = LinearRegression(delta=delta, noise_var=1.0, fit_intercept=est.fit_intercept,
                             penalize_intercept=False)
    return model, _theta(est.fit_intercept, est.intercept_, coef[None, :])


def _logistic(est, weights):
    name = "LogisticRegression"
    delta = _logistic_l2(est)
    if est.class_weight is not None:
        raise ValueError(f"{name} with class_weight={est.class_weight!r}: fold the class weights "
                         "into sample_weight and refit with class_weight=None (mpe_teach's "
                         "weights are per example, and 'balanced' ones change when one is removed)")
    if est.solver == "liblinear" and est.fit_intercept:
        raise ValueError(f"{name} with solver='liblinear' penalises the intercept (as a feature "
                         "of value intercept_scaling); use solver='lbfgs' or 'newton-cholesky'")
    k = len(est.classes_)
    if k > 2 and (getattr(est, "multi_class", "auto") == "ovr" or est.solver == "liblinear"):
        raise ValueError(f"{name} one-vs-rest (multi_class='ovr' or solver='liblinear') fits {k} "
                         "separate binary models; mpe_teach's SoftmaxRegression is the multinomial one")
    coef = np.asarray(est.coef_, dtype=float)
    if k == 2:
        model = LogisticRegression(delta=delta, fit_intercept=est.fit_intercept,
                                   penalize_intercept=False)
        return model, _theta(est.fit_intercept, est.intercept_, coef)
    if delta == 0:
        raise ValueError(f"{name} without a penalty (C=inf) and {k} classes: the multinomial loss "
                         "is flat along one direction of every coefficient, so there is no unique "
                         "minimum; SoftmaxRegression needs delta = 1/C > 0")
    model = SoftmaxRegression(delta=delta, fit_intercept=est.fit_intercept, penalize_intercept=False)
    return model, _theta(est.fit_intercept, est.intercept_, coef)


def _logistic_l2(est):
    """δ = 1/C for an L2 penalty, 0 for none; a ValueError for an L1 part. scikit-learn >= 1.8
    reads the penalty off l1_ratio and C (``penalty`` is deprecated); older versions off penalty."""
    penalty, l1_ratio, C = getattr(est, "penalty", "l2"), getattr(est, "l1_ratio", None), float(est.C)
    if penalty == "deprecated":
        penalty = None if C == np.inf else "l2" if l1_ratio in (0, None) else "elasticnet"
    elif penalty == "elasticnet" and l1_ratio == 0:
        penalty = "l2"
    if penalty in (None, "none"):
        return 0.0
    if penalty != "l2":
        raise ValueError(f"LogisticRegression with an L1 part in its penalty (penalty={penalty!r}, "
                         f"l1_ratio={l1_ratio!r}) is not smooth; mpe_teach needs an L2 penalty "
                         "(l1_ratio=0) or none")
    return 0.0 if C == np.inf else 1.0 / C


def _poisson(est, weights):
    model = PoissonRegression(delta=float(est.alpha) * weights.sum(), fit_intercept=est.fit_intercept,
                              penalize_intercept=False)
    return model, _theta(est.fit_intercept, est.intercept_, np.asarray(est.coef_, dtype=float)[None, :])


CONVERTERS = {sk.Ridge: _ridge, sk.LinearRegression: _ols, sk.LogisticRegression: _logistic,
              sk.PoissonRegressor: _poisson}


# ---- shared pieces ---------------------------------------------------------------------------
def _theta(fit_intercept, intercept, coef):
    """θ = vec(W) with W (1 + d, k) row-major, row 0 the intercepts: from scikit-learn's
    intercept_ (k,) and coef_ (k, d)."""
    W = coef.T
    if fit_intercept:
        W = np.vstack([np.atleast_1d(np.asarray(intercept, dtype=float)), W])
    return W.ravel()


def _check_X(est, X):
    """The number of rows of X, after checking its shape and (for a DataFrame) its columns
    against the features the estimator was fitted with."""
    name = type(est).__name__
    if sparse.issparse(X):
        raise TypeError("X is a sparse matrix; mpe_teach needs a dense array (X.toarray())")
    shape = np.shape(X)
    if len(shape) != 2 or shape[1] != est.n_features_in_:
        raise ValueError(f"X must have shape (n, {est.n_features_in_}), the features {name} was "
                         f"fitted with; got shape {shape}")
    names = getattr(est, "feature_names_in_", None)
    columns = getattr(X, "columns", None)
    if names is not None and columns is not None and list(map(str, columns)) != list(names):
        raise ValueError(f"X's columns {list(columns)[:5]} differ from the features {name} was "
                         f"fitted with {list(names)[:5]} (same names in the same order needed)")
    return shape[0]


def _check_y(est, y, n):
    """y (n,), with the classes a classifier was fitted with."""
    if np.ndim(y) != 1 or len(y) != n:
        raise ValueError(f"y must have shape ({n},), one value per row of X; got {np.shape(y)}")
    classes = getattr(est, "classes_", None)
    if classes is None:
        return
    try:
        seen = np.unique(np.asarray(y))
    except TypeError:                  # mixed labels: the model's own encoding reports them
        return
    if not np.array_equal(seen, classes):
        raise ValueError(f"y has the classes {seen.tolist()[:10]}; {type(est).__name__} was "
                         f"fitted with {classes.tolist()[:10]}")


def _check_same_minimum(name, model, theta):
    """The estimator's θ must (nearly) zero the gradient of the equivalent L on these data."""
    grad = np.abs(model.gradient(theta)).max()
    scale = model.gradient_scale(theta, model.weights_)
    if grad > MISMATCH * scale:
        raise ValueError(
            f"{name}'s coefficients are not a minimum of the equivalent loss on this X, y and "
            f"sample_weight (max|∇L| = {grad / scale:.1e} of its scale, allowed {MISMATCH:g}): pass "
            "the data and sample_weight it was fitted with, or fit it to convergence")
