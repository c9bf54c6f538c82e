"""Input checks shared by every part of the library: one place, one wording.

Each check returns the cleaned value (a copy where the caller's array could otherwise leak in)
or raises a ValueError (a TypeError for the wrong kind of object) that names the input, what
was expected and what was received, as scikit-learn's messages do.
"""
import operator

import numpy as np

# Beyond this magnitude squares overflow double precision (1e154² = 1e308): a Gaussian loss,
# a Gram matrix or a GGN of such numbers is inf or loses every digit.
MAX_ABS = 1e150


def check_int(name, value, minimum, maximum=None):
    """``value`` as an int in [minimum, maximum]."""
    expected = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be {expected}; got {value!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {expected}; got {value!r}")
    return value


def check_float(name, value, low=None, high=None, low_open=False):
    """``value`` as a finite float with low <= value (low < value when low_open) and value < high.
    A string such as "1" is refused: options are numbers, not text."""
    if high is not None:
        expected = f"a number in {'(' if low_open else '['}{low}, {high})"
    elif low is not None:
        expected = f"a finite number {'>' if low_open else '>='} {low:g}"
    else:
        expected = "a finite number"
    if isinstance(value, (bool, np.bool_, str, bytes)) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be {expected}; got {value!r} ({type(value).__name__})")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {expected}; got {value!r}") from None
    too_low = low is not None and (value <= low if low_open else value < low)
    if not np.isfinite(value) or too_low or (high is not None and value >= high):
        raise ValueError(f"{name} must be {expected}; got {value!r}")
    return value


def check_matrix(name, X, n_features=None, copy=True):
    """A finite float array (n, d) with n >= 1 — a copy unless copy=False (then the caller
    copies it itself); values beyond ±MAX_ABS are refused."""
    if hasattr(X, "to_numpy"):                              # pandas
        X = X.to_numpy()
    try:
        X = np.array(X, dtype=float, copy=True if copy else None)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; could not convert it to floats ({exc})") from None
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d); got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column; got shape {X.shape}")
    _check_finite(name, X)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features; the model was fitted with {n_features}")
    return X


def check_vector(name, y, n, numeric=True):
    """A 1-D array of length n (copied); numeric ones must be finite and within ±MAX_ABS."""
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    y = np.array(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), one value per row of X; got {y.shape}")
    if not numeric:
        return y
    if y.dtype.kind not in "biuf":
        bad = [v for v in y.tolist() if isinstance(v, (bool, str, bytes)) or v is None
               or not isinstance(v, (int, float, np.number))]
        if bad:
            raise ValueError(f"{name} must be numeric; got {bad[0]!r} ({type(bad[0]).__name__})")
    y = y.astype(float)
    _check_finite(name, y)
    return y


def _check_finite(name, a):
    if a.max() <= MAX_ABS and a.min() >= -MAX_ABS:    # the common case (NaN compares False)
        return
    bad = ~np.isfinite(a)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(f"{name} has a NaN or infinite value (first at {_position(where)})")
    big = np.abs(a) > MAX_ABS
    if big.any():
        where = np.argwhere(big)[0]
        raise ValueError(f"{name} has a value of magnitude {np.abs(a).max():.3g} (first at "
                         f"{_position(where)}); values beyond {MAX_ABS:.0e} overflow when squared: "
                         "rescale the data")


def _position(where):
    return f"row {where[0]}" + (f", column {where[1]}" if len(where) > 1 else "")


def check_weights(weights, n, name="weights"):
    """Per-example weights (n,): default ones; a copy, finite and >= 0."""
    if weights is None:
        return np.ones(n)
    if hasattr(weights, "to_numpy"):
        weights = weights.to_numpy()
    try:
        w = np.array(weights, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, one per example; got {weights!r}") from None
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one per example; got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite; got NaN or infinity")
    if np.any(w < 0):
        i = int(np.argmin(w))
        raise ValueError(f"{name} must be >= 0 (0 removes an example); weight {i} is {w[i]}")
    return w


def check_indices(i, n, name="i"):
    """An example index or a 1-D array of distinct indices into n examples → 1-D int array."""
    idx = np.atleast_1d(np.asarray(i))
    if idx.dtype.kind not in "iu" or idx.ndim != 1 or len(idx) == 0:
        raise ValueError(f"{name} must be an example index or a 1-D array of indices; got {i!r}")
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise ValueError(f"{name} must index the {n} training examples (0..{n - 1}); got {bad[:5].tolist()}")
    if len(np.unique(idx)) != len(idx):
        raise ValueError(f"{name} must not list an example twice; got {i!r}")
    return idx


def check_new_weights(weight, shape, name="weight"):
    """New weights for the perturbed examples: a scalar or an array of ``shape``, finite, >= 0."""
    if isinstance(weight, (str, bytes)):
        raise ValueError(f"{name} must be a number >= 0 (0 removes the example); got {weight!r}")
    try:
        w = np.asarray(weight, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0 (0 removes the example); got {weight!r}") from None
    if w.ndim != 0 and w.shape != tuple(shape):
        raise ValueError(f"{name} must be one number or one per member {tuple(shape)}; got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must be a finite number >= 0 (0 removes the example); got {weight!r}")
    return np.broadcast_to(w, shape).astype(float)


def check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")
    return value


def check_fitted_model(model, name="model", classifier=None):
    """A fitted mpe_teach model (optionally: a classifier, or not one)."""
    from .models import Model
    if not isinstance(model, Model):
        raise TypeError(f"{name} must be a fitted mpe_teach model; got {type(model).__name__}")
    if not hasattr(model, "theta_"):
        raise ValueError(f"{name} is not fitted yet ({type(model).__name__}); call fit(X, y) first")
    if classifier is not None and model.likelihood_.is_classifier != classifier:
        kind = "a classifier" if classifier else "a regression model"
        raise ValueError(f"{name} must be {kind}; got {type(model).__name__} with a "
                         f"{model.likelihood_.name} likelihood")
    return model
