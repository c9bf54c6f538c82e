"""Small, seeded problems shared by the model and MPE tests."""
import numpy as np
import pytest
from sklearn.datasets import load_wine


def regression_problem(n=40, d=3, seed=0, noise=0.5):
    """y = 0.7 + X b + noise; X (n, d) standard normal."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = 0.7 + X @ rng.normal(size=d) + noise * rng.normal(size=n)
    return X, y


def binary_problem(n=80, d=2, seed=0):
    """Two overlapping Gaussian classes (not linearly separable), labels {0, 1}."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(size=(n, d)) + 1.0 * (2 * y[:, None] - 1)
    return X, y


def multiclass_problem(n=60, d=2, k=3, seed=0):
    """k overlapping Gaussian classes in d dimensions, labels 0..k-1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    means = 2.0 * rng.normal(size=(k, d))
    return rng.normal(size=(n, d)) + means[y], y


@pytest.fixture(scope="session")
def wine():
    """The wine data (178 × 13, 3 classes), standardised column by column."""
    X, y = load_wine(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def run_cli(capsys, *argv):
    """mpe_teach.cli.main on the arguments (as strings): (exit status, stdout, stderr)."""
    from mpe_teach.cli import main
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="session")
def cancer_csv(tmp_path_factory):
    """A small CSV for CLI runs: the first 120 breast-cancer training rows, 6 features."""
    import dataclasses

    from mpe_teach.datasets import breast_cancer, to_csv
    d = breast_cancer()
    d = dataclasses.replace(d, X_train=d.X_train[:120, :6], y_train=d.y_train[:120],
                            feature_names=d.feature_names[:6])
    path = tmp_path_factory.mktemp("data") / "cancer.csv"
    to_csv(d, path)
    return str(path)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's /usr/bin/chromium) for the browser tests; skipped without it,
    except under CI=true, where that is a failure."""
    from test_browser import CHROMIUM, CHROMIUM_ARGS, _require_browser

    _require_browser()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = None
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
    finally:
        if chromium is not None:
            chromium.close()
        playwright.stop()
