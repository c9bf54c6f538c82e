"""Small, deterministic data sets for learning how a model depends on its training data.

Every loader takes an integer ``seed`` and returns a :class:`Dataset`; the same seed gives
byte-identical arrays. Nothing is downloaded: the synthetic sets are generated here and the
real ones (digits, breast cancer) ship with scikit-learn.

    >>> data = regression_1d()          # 30 points on a line, one planted outlier
    >>> data.X_train.shape, data.special_index
    ((30, 1), 15)
"""
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn.datasets
from sklearn.model_selection import train_test_split

from .validation import check_float, check_int


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split plus what a learner needs to read it.

    X_train: (n, d) float, y_train: (n,) float for regression, int class labels otherwise;
    likewise X_test, y_test. ``special_index`` is the training index of the planted
    outlier / high-leverage point in the regression sets (None when there is none).
    """
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    target_names: list[str] | None
    task: str                      # "regression" | "binary" | "multiclass"
    description: str
    special_index: int | None = None


# ---------------------------------------------------------------- argument checks
def _check_seed(seed):
    return check_int("seed", seed, 0, 2**32 - 1)


# ---------------------------------------------------------------- regression
def regression_1d(n=30, outlier=True, seed=0, n_test=100):
    """y = 1 + 2 x + noise (sd 0.5), x uniform in [-3, 3]; X_train: (n, 1).

    With ``outlier=True`` training point ``n // 2`` is moved to the mean of the other x
    values (so its leverage is the smallest possible, 1/n) and put 6 above the line (twelve
    noise standard deviations): the model is badly wrong about it, but not uncertain.
    All other points are the same as with outlier=False.
    """
    n, n_test, seed = check_int("n", n, 5), check_int("n_test", n_test, 1), _check_seed(seed)
    rng = np.random.default_rng(seed)
    intercept, slope, noise_sd, shift = 1.0, 2.0, 0.5, 6.0

    def line(x, noise):
        return intercept + slope * x + noise

    x = rng.uniform(-3.0, 3.0, size=n)
    y = line(x, noise_sd * rng.standard_normal(n))
    x_test = rng.uniform(-3.0, 3.0, size=n_test)
    y_test = line(x_test, noise_sd * rng.standard_normal(n_test))
    special = None
    if outlier:
        special = n // 2
        x[special] = np.delete(x, special).mean()          # the middle of the x values
        y[special] = line(x[special], 0.0) + shift         # far above the line
    text = (f"{n} points on the line y = 1 + 2x plus Gaussian noise (sd 0.5), x in [-3, 3]. "
            + (f"Training point {special} is a planted outlier: "
               "in the middle of the x values, 6 above the line."
               if outlier else "No planted outlier."))
    return Dataset(x[:, None], y, x_test[:, None], y_test, ["x"], None, "regression",
                   text, special)


def regression_2d(n=50, leverage=True, seed=0, n_test=100):
    """y = 1 + 2 x1 - x2 + noise (sd 0.5), x uniform in [-2, 2]^2; X_train: (n, 2).

    With ``leverage=True`` training point ``n // 2`` is moved far away in x-space, to
    (6, 6), but its y still follows the plane (same noise as the others): the model is
    uncertain about it (largest leverage) without being wrong about it.
    """
    n, n_test, seed = check_int("n", n, 20), check_int("n_test", n_test, 1), _check_seed(seed)
    rng = np.random.default_rng(seed)
    coef, intercept, noise_sd = np.array([2.0, -1.0]), 1.0, 0.5
    X = rng.uniform(-2.0, 2.0, size=(n, 2))
    noise = noise_sd * rng.standard_normal(n)
    X_test = rng.uniform(-2.0, 2.0, size=(n_test, 2))
    y_test = intercept + X_test @ coef + noise_sd * rng.standard_normal(n_test)
    special = None
    if leverage:
        special = n // 2
        X[special] = (6.0, 6.0)
    y = intercept + X @ coef + noise
    text = (f"{n} points on the plane y = 1 + 2 x1 - x2 plus Gaussian noise (sd 0.5), "
            "x uniform in [-2, 2]^2. "
            + (f"Training point {special} sits far away at (6, 6) (high leverage) but "
               "still follows the plane." if leverage else "No planted high-leverage point."))
    return Dataset(X, y, X_test, y_test, ["x1", "x2"], None, "regression", text, special)


# ---------------------------------------------------------------- synthetic classification
def two_moons(n=200, noise=0.25, seed=0, n_test=200):
    """Two interleaving half circles (sklearn make_moons), labels {0, 1}; X_train: (n, 2)."""
    n, n_test = check_int("n", n, 4), check_int("n_test", n_test, 2)
    noise, seed = check_float("noise", noise, 0.0), _check_seed(seed)
    rng = np.random.RandomState(seed)    # one stream: the train draw, then the test draw
    X, y = sklearn.datasets.make_moons(n, noise=noise, random_state=rng)
    X_test, y_test = sklearn.datasets.make_moons(n_test, noise=noise, random_state=rng)
    text = (f"{n} training points on two interleaving half circles (Gaussian noise sd "
            f"{noise:g}); not linearly separable, so a linear model must get some wrong.")
    return Dataset(X, y.astype(np.int64), X_test, y_test.astype(np.int64), ["x1", "x2"],
                   ["moon 0", "moon 1"], "binary", text)


def blobs(n=300, centers=3, seed=0, n_test=300, cluster_std=1.5):
    """Gaussian clusters in 2-D (sklearn make_blobs), labels 0..centers-1; X_train: (n, 2).

    The cluster centres are drawn once (uniform in [-10, 10]^2) and shared by both splits.
    """
    centers = check_int("centers", centers, 2)
    n, n_test = check_int("n", n, centers), check_int("n_test", n_test, centers)
    cluster_std = check_float("cluster_std", cluster_std, 0.0, low_open=True)
    rng = np.random.RandomState(_check_seed(seed))
    means = rng.uniform(-10.0, 10.0, size=(centers, 2))
    X, y = sklearn.datasets.make_blobs(n, centers=means, cluster_std=cluster_std,
                                       random_state=rng)
    X_test, y_test = sklearn.datasets.make_blobs(n_test, centers=means,
                                                 cluster_std=cluster_std, random_state=rng)
    text = (f"{n} training points in {centers} Gaussian clusters (sd {cluster_std:g}) "
            "in the plane; overlapping clusters make some points ambiguous.")
    return Dataset(X, y.astype(np.int64), X_test, y_test.astype(np.int64), ["x1", "x2"],
                   [f"blob {c}" for c in range(centers)],
                   "binary" if centers == 2 else "multiclass", text)


# ---------------------------------------------------------------- bundled real data
def digits(n_train=None, seed=0, test_size=0.3):
    """8x8 handwritten digits (sklearn load_digits), pixels scaled to [0, 1]; X: (n, 64).

    The split is stratified, so every class 0-9 appears in train and test. ``n_train``
    keeps a stratified, deterministic subsample of the training set. Use
    :func:`as_images` to get the (n, 8, 8) images back.
    """
    seed = _check_seed(seed)
    test_size = check_float("test_size", test_size, 0.0, 1.0, low_open=True)
    data = sklearn.datasets.load_digits()
    X, y = data.data / 16.0, data.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=y,
                                              random_state=seed)
    if n_train is not None:
        n_train = check_int("n_train", n_train, 10, len(y_tr))
        if n_train < len(y_tr):
            X_tr, _, y_tr, _ = train_test_split(X_tr, y_tr, train_size=n_train,
                                                stratify=y_tr, random_state=seed)
    text = (f"{len(y_tr)} training images of handwritten digits 0-9 (8x8 pixels, "
            "grey values scaled to [0, 1]); each row is one image read row by row.")
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return Dataset(X_tr, y_tr, X_te, y_te, names, [str(d) for d in range(10)],
                   "multiclass", text)


def as_images(X):
    """Reshape digit rows X: (n, 64) into images (n, 8, 8)."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 64:
        raise ValueError(f"X must have shape (n, 64); got {X.shape}")
    return X.reshape(-1, 8, 8)


def breast_cancer(seed=0, test_size=0.3):
    """Wisconsin breast-cancer data (sklearn), 30 features; labels 0 = malignant, 1 = benign.

    Stratified split; every feature is standardised with the TRAINING mean and std only,
    so no information about the test set leaks into the training data.
    """
    seed = _check_seed(seed)
    test_size = check_float("test_size", test_size, 0.0, 1.0, low_open=True)
    data = sklearn.datasets.load_breast_cancer()
    X_tr, X_te, y_tr, y_te = train_test_split(data.data, data.target.astype(np.int64),
                                              test_size=test_size, stratify=data.target,
                                              random_state=seed)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    text = (f"{len(y_tr)} tumours described by 30 measurements of cell nuclei, labelled "
            "malignant (0) or benign (1); features standardised with training statistics.")
    return Dataset((X_tr - mean) / std, y_tr, (X_te - mean) / std, y_te,
                   list(data.feature_names), list(data.target_names), "binary", text)


# ---------------------------------------------------------------- export and lookup
def to_csv(dataset, path, target="target", split="train"):
    """Write one split as CSV: a header (feature names, then ``target``), one row per example.

    Floats are written with Python's shortest round-trip repr, so reading back is exact.
    Returns the path written.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if target in dataset.feature_names:
        raise ValueError(f"target must differ from every feature name; got {target!r}")
    X, y = (dataset.X_train, dataset.y_train) if split == "train" else (
        dataset.X_test, dataset.y_test)
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*dataset.feature_names, target])
        for row, label in zip(X.tolist(), y.tolist()):    # tolist: plain floats / ints
            writer.writerow([*map(repr, row), repr(label)])
    return path


DATASETS = {f.__name__: f for f in
            (regression_1d, regression_2d, two_moons, blobs, digits, breast_cancer)}


def load(name, **kwargs):
    """Call the loader called ``name`` (a key of DATASETS) with ``kwargs``."""
    if name not in DATASETS:
        raise ValueError(f"name must be one of {', '.join(DATASETS)}; got {name!r}")
    return DATASETS[name](**kwargs)
