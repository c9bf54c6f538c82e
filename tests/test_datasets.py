"""Tests for mpe_teach.datasets: shapes, determinism, the planted points, splits, CSV export."""
import csv

import numpy as np
import pytest
import sklearn.datasets

from mpe_teach import datasets as D

LOADERS = ["regression_1d", "regression_2d", "two_moons", "blobs", "digits", "breast_cancer"]
ARRAYS = ["X_train", "y_train", "X_test", "y_test"]


def ols_residuals(X, y):
    """Residuals of least squares with an intercept, via np.linalg.lstsq."""
    A = np.column_stack([np.ones(len(y)), X])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    return y - A @ coef


def hat_matrix_diag(X):
    """Leverages h_ii of least squares with an intercept: squared row norms of Q in A = QR."""
    Q, _ = np.linalg.qr(np.column_stack([np.ones(len(X)), X]))
    return np.sum(Q**2, axis=1)


# ---------------------------------------------------------------- common contract
@pytest.mark.parametrize("name", LOADERS)
def test_shapes_dtypes_and_metadata(name):
    data = D.load(name)
    n, d = data.X_train.shape
    assert data.y_train.shape == (n,)
    assert data.X_test.shape[1] == d and data.y_test.shape == (len(data.X_test),)
    assert data.X_train.dtype == data.X_test.dtype == np.float64
    assert len(data.feature_names) == d and all(isinstance(f, str) for f in data.feature_names)
    assert isinstance(data.description, str) and len(data.description) > 20
    if data.task == "regression":
        assert data.y_train.dtype == data.y_test.dtype == np.float64
        assert data.target_names is None
    else:
        assert data.task in ("binary", "multiclass")
        assert data.y_train.dtype == data.y_test.dtype == np.int64
        k = len(data.target_names)
        assert (k == 2) == (data.task == "binary")
        assert set(np.unique(data.y_train)) == set(range(k)) == set(np.unique(data.y_test))
        assert data.special_index is None


@pytest.mark.parametrize("name", LOADERS)
def test_same_seed_gives_identical_bytes_other_seed_differs(name):
    a, b, c = D.load(name, seed=3), D.load(name, seed=3), D.load(name, seed=4)
    for field in ARRAYS:
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes()
    assert a.X_train.tobytes() != c.X_train.tobytes()


def test_dataset_is_frozen():
    data = D.regression_1d()
    with pytest.raises(AttributeError):
        data.X_train = np.zeros((1, 1))


# ---------------------------------------------------------------- planted points
@pytest.mark.parametrize("n", [5, 8, 30, 200])
@pytest.mark.parametrize("seed", range(5))
def test_planted_outlier_has_largest_ols_residual(n, seed):
    data = D.regression_1d(n=n, seed=seed)
    assert data.special_index == n // 2
    resid = np.abs(ols_residuals(data.X_train, data.y_train))
    assert np.argmax(resid) == data.special_index
    # an outlier, not a leverage point: its leverage is the minimum, 1/n
    assert np.isclose(hat_matrix_diag(data.X_train)[data.special_index], 1 / n)


def test_without_outlier_only_the_special_point_changes():
    with_, without = D.regression_1d(seed=1), D.regression_1d(seed=1, outlier=False)
    k = with_.special_index
    assert without.special_index is None
    keep = np.arange(len(with_.y_train)) != k
    np.testing.assert_array_equal(with_.X_train[keep], without.X_train[keep])
    np.testing.assert_array_equal(with_.y_train[keep], without.y_train[keep])
    resid = ols_residuals(without.X_train, without.y_train)
    assert np.abs(resid).max() < 4 * 0.5     # clean data: nothing beyond 4 noise sds


@pytest.mark.parametrize("n", [20, 50, 500])
@pytest.mark.parametrize("seed", range(5))
def test_planted_point_has_largest_leverage(n, seed):
    data = D.regression_2d(n=n, seed=seed)
    assert data.special_index == n // 2
    h = hat_matrix_diag(data.X_train)
    assert np.isclose(h.sum(), 3.0)           # trace of the hat matrix = number of parameters
    assert np.argmax(h) == data.special_index
    # it follows the plane: its residual is not the largest
    assert np.argmax(np.abs(ols_residuals(data.X_train, data.y_train))) != data.special_index


def test_regression_2d_without_leverage():
    data = D.regression_2d(leverage=False)
    assert data.special_index is None
    assert np.abs(data.X_train).max() <= 2.0


# ---------------------------------------------------------------- classification sets
def test_two_moons_labels_and_sizes():
    data = D.two_moons(n=101, n_test=50, noise=0.0)
    assert data.X_train.shape == (101, 2) and data.X_test.shape == (50, 2)
    assert set(data.y_train) == {0, 1}
    # noise = 0: every point lies exactly on its unit half circle
    centre = np.where(data.y_train[:, None] == 0, [0.0, 0.0], [1.0, 0.5])
    np.testing.assert_allclose(np.linalg.norm(data.X_train - centre, axis=1), 1.0)


@pytest.mark.parametrize("centers, task", [(2, "binary"), (3, "multiclass"), (5, "multiclass")])
def test_blobs_task_and_classes(centers, task):
    data = D.blobs(n=60, centers=centers, n_test=30)
    assert data.task == task and len(data.target_names) == centers
    assert np.array_equal(np.unique(data.y_train), np.arange(centers))
    # train and test share the cluster centres
    for c in range(centers):
        m_tr = data.X_train[data.y_train == c].mean(axis=0)
        m_te = data.X_test[data.y_test == c].mean(axis=0)
        assert np.linalg.norm(m_tr - m_te) < 2.5


def test_digits_stratified_split_and_scaling():
    data = D.digits()
    assert data.X_train.shape[1] == 64 and len(data.y_train) + len(data.y_test) == 1797
    assert np.isclose(len(data.y_test) / 1797, 0.3, atol=0.01)
    for y in (data.y_train, data.y_test):
        assert np.array_equal(np.unique(y), np.arange(10))
    assert data.X_train.min() == 0.0 and data.X_train.max() == 1.0
    assert data.target_names == [str(d) for d in range(10)]


def test_digits_subsample_keeps_classes():
    data = D.digits(n_train=50, seed=2)
    assert data.X_train.shape == (50, 64)
    assert np.array_equal(np.unique(data.y_train), np.arange(10))
    assert np.bincount(data.y_train).min() >= 4      # stratified: about 5 per class
    full = D.digits(seed=2)
    np.testing.assert_array_equal(data.X_test, full.X_test)  # subsampling leaves test alone
    assert D.digits(n_train=len(full.y_train), seed=2).X_train.shape == full.X_train.shape


def test_as_images_matches_sklearn_images():
    raw = sklearn.datasets.load_digits()
    images = D.as_images(raw.data / 16)
    assert images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(images, raw.images / 16)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 64\)"):
        D.as_images(np.zeros((3, 63)))


def test_breast_cancer_standardised_with_training_statistics():
    data = D.breast_cancer()
    assert data.X_train.shape[1] == 30 and data.target_names == ["malignant", "benign"]
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1.0, rtol=1e-12)
    # the test set was not used for the statistics, so it is only approximately standard
    assert not np.allclose(data.X_test.mean(axis=0), 0.0, atol=1e-12)
    assert np.abs(data.X_test.mean(axis=0)).max() < 0.5
    # stratified: class proportions agree between the splits
    assert abs(data.y_train.mean() - data.y_test.mean()) < 0.01


# ---------------------------------------------------------------- CSV and lookup
@pytest.mark.parametrize("name, split", [("regression_2d", "train"), ("blobs", "test"),
                                         ("breast_cancer", "train")])
def test_to_csv_round_trips_exactly(tmp_path, name, split):
    data = D.load(name)
    path = D.to_csv(data, tmp_path / "data.csv", target="label", split=split)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [*data.feature_names, "label"]
    table = np.array(rows[1:], dtype=float)
    X, y = getattr(data, f"X_{split}"), getattr(data, f"y_{split}")
    np.testing.assert_array_equal(table[:, :-1], X)     # exact, not approximate
    np.testing.assert_array_equal(table[:, -1], y)
    if data.task != "regression":
        assert all(r[-1].isdigit() for r in rows[1:])     # labels written as integers


def test_to_csv_readable_by_genfromtxt(tmp_path):
    data = D.two_moons(n=20)
    path = D.to_csv(data, tmp_path / "moons.csv")
    table = np.genfromtxt(path, delimiter=",", skip_header=1)
    np.testing.assert_array_equal(table, np.column_stack([data.X_train, data.y_train]))


def test_to_csv_rejects_bad_split_and_clashing_target(tmp_path):
    data = D.regression_1d()
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'val'"):
        D.to_csv(data, tmp_path / "a.csv", split="val")
    with pytest.raises(ValueError, match="target must differ"):
        D.to_csv(data, tmp_path / "a.csv", target="x")


def test_load_dispatches_and_lists_valid_names():
    a, b = D.load("blobs", centers=4, seed=1), D.blobs(centers=4, seed=1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    with pytest.raises(ValueError) as err:
        D.load("mnist")
    assert "'mnist'" in str(err.value)
    for name in LOADERS:
        assert name in str(err.value)


@pytest.mark.parametrize("func, kwargs, message", [
    (D.regression_1d, {"n": 2}, "n must be an integer >= 5; got 2"),
    (D.regression_1d, {"n": 10.5}, "n must be an integer >= 5; got 10.5"),
    (D.regression_1d, {"n_test": 0}, "n_test must be an integer >= 1; got 0"),
    (D.regression_1d, {"seed": -1}, "seed must be an integer >= 0"),
    (D.regression_1d, {"seed": "a"}, "seed must be an integer >= 0 and <= 4294967295; got 'a'"),
    (D.regression_2d, {"n": 10}, "n must be an integer >= 20; got 10"),
    (D.two_moons, {"noise": -0.1}, r"noise must be a finite number >= 0; got -0.1"),
    (D.two_moons, {"n": True}, "n must be an integer >= 4; got True"),
    (D.blobs, {"centers": 1}, "centers must be an integer >= 2; got 1"),
    (D.blobs, {"cluster_std": 0}, r"cluster_std must be a finite number > 0; got 0"),
    (D.blobs, {"n": 3, "centers": 4}, "n must be an integer >= 4; got 3"),
    (D.digits, {"test_size": 1.0}, r"test_size must be a number in \(0.0, 1.0\); got 1.0"),
    (D.digits, {"test_size": 0}, r"test_size must be a number in \(0.0, 1.0\); got 0"),
    (D.digits, {"n_train": 5}, "n_train must be an integer >= 10 and <= 1257; got 5"),
    (D.digits, {"n_train": 5000}, "n_train must be an integer >= 10 and <= 1257; got 5000"),
    (D.breast_cancer, {"test_size": float("nan")}, "test_size must be a number in"),
])
def test_bad_arguments_raise_readable_value_error(func, kwargs, message):
    with pytest.raises(ValueError, match=message):
        func(**kwargs)
