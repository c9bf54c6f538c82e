"""The command line: the CSV it writes against brute-force leave-one-out refits, the summary, and
every kind of bad input (exit status 2, one line on stderr, nothing written)."""
import csv
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogistic

from mpe_teach import LogisticRegression
from mpe_teach.cli import main
from mpe_teach.datasets import blobs, breast_cancer, to_csv
from conftest import run_cli as run

N_CANCER, D_CANCER = 150, 5


# ---- data files --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small CSVs: breast cancer (150 rows, 5 features, binary), a regression set with a text
    column, 3-class blobs."""
    root = tmp_path_factory.mktemp("data")
    d = breast_cancer()
    d = dataclasses.replace(d, X_train=d.X_train[:N_CANCER, :D_CANCER], y_train=d.y_train[:N_CANCER],
                            feature_names=d.feature_names[:D_CANCER])
    to_csv(d, root / "cancer.csv")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = 0.7 + X @ np.array([1.0, -2.0, 0.5]) + 0.5 * rng.normal(size=40)
    with open(root / "reg.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "a", "b", "c", "price"])
        for i in range(40):
            w.writerow([f"item{i}", *map(repr, X[i].tolist()), repr(float(y[i]))])
    to_csv(blobs(n=60), root / "blobs.csv", target="label")
    return {"root": root, "cancer": str(root / "cancer.csv"), "reg": str(root / "reg.csv"),
            "blobs": str(root / "blobs.csv"), "cancer_data": d, "reg_data": (X, y)}


def read_out(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def column(header, rows, name):
    j = header.index(name)
    return np.array([float(r[j]) if r[j] != "" else np.nan for r in rows])


# ---- independent references ----------------------------------------------------------------
def ridge_loo(X, y, delta, noise_var):
    """f_i^{\\i} by solving the ridge normal equations without row i (intercept penalised too):
    (ΦᵀΦ/σ² + δI) θ = Φᵀy/σ²."""
    Phi = np.hstack([np.ones((len(y), 1)), X])
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        A = Phi[keep].T @ Phi[keep] / noise_var + delta * np.eye(Phi.shape[1])
        theta = np.linalg.solve(A, Phi[keep].T @ y[keep] / noise_var)
        out[i] = Phi[i] @ theta
    return out


def ridge_fit(X, y, delta, noise_var):
    Phi = np.hstack([np.ones((len(y), 1)), X])
    theta = np.linalg.solve(Phi.T @ Phi / noise_var + delta * np.eye(Phi.shape[1]), Phi.T @ y / noise_var)
    return Phi @ theta


# ---- successful runs -------------------------------------------------------------------------
def test_linear_csv_matches_brute_force_leave_one_out(files, capsys, tmp_path):
    X, y = files["reg_data"]
    delta, noise_var = 0.5, 2.0
    out = tmp_path / "lin.csv"
    code, stdout, err = run(capsys, "sensitivity", files["reg"], "--target", "price", "--model",
                            "linear", "--delta", delta, "--noise-var", noise_var, "--truth", "all",
                            "--out", out)
    assert code == 0, err
    assert "ignoring non-numeric column(s) 'name'" in err
    header, rows = read_out(out)
    assert header == ["row", "y", "e_0", "loo_est_0", "sensitivity", "loo_true_0", "variance", "rank"]
    assert len(rows) == 40
    assert [r[0] for r in rows] == [str(i) for i in range(40)]
    np.testing.assert_array_equal(column(header, rows, "y"), y)        # written as read
    loo = ridge_loo(X, y, delta, noise_var)
    f = ridge_fit(X, y, delta, noise_var)
    # the MPE is exact for linear regression: the estimate IS the leave-one-out refit
    np.testing.assert_allclose(column(header, rows, "loo_est_0"), loo, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(column(header, rows, "loo_true_0"), loo, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(column(header, rows, "e_0"), (f - y) / noise_var, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(column(header, rows, "sensitivity"), np.abs(loo - f), rtol=1e-8, atol=1e-12)
    # variance v_i = φ_iᵀ (ΦᵀΦ/σ² + δI)⁻¹ φ_i; rank 1 = the largest brute-force |f_i^{\i} − f_i|
    Phi = np.hstack([np.ones((40, 1)), X])
    A = Phi.T @ Phi / noise_var + delta * np.eye(Phi.shape[1])
    v = np.einsum("ip,ip->i", Phi, np.linalg.solve(A, Phi.T).T)
    np.testing.assert_allclose(column(header, rows, "variance"), v, rtol=1e-9)
    rank = column(header, rows, "rank").astype(int)
    assert sorted(rank) == list(range(1, 41))
    assert list(np.argsort(rank)[:5]) == list(np.argsort(-np.abs(loo - f))[:5])
    # the summary: the estimated LOO loss is the brute-force mean squared LOO error
    assert f"{np.mean((y - loo) ** 2):.6g} (estimated" in stdout
    assert "Pearson r   1.000000" in stdout and "max |error|" in stdout
    assert f"written to {out}" in stdout


def test_logistic_truth_for_the_most_sensitive_rows(files, capsys, tmp_path):
    d = files["cancer_data"]
    X, y, K = d.X_train, d.y_train, 8
    out = tmp_path / "log.csv"
    code, stdout, err = run(capsys, "sensitivity", files["cancer"], "--target", "target",
                            "--model", "logistic", "--delta", "0.5", "--truth", K, "--out", out)
    assert code == 0, err
    header, rows = read_out(out)
    assert header == ["row", "y", "e_0", "loo_est_0", "sensitivity", "loo_true_0", "variance", "rank"]
    assert len(rows) == N_CANCER
    sens, est, true = (column(header, rows, c) for c in ("sensitivity", "loo_est_0", "loo_true_0"))
    has_truth = np.flatnonzero(~np.isnan(true))
    assert set(has_truth) == set(np.argsort(-sens)[:K])          # the K most sensitive rows
    # truth against an independent fit: scikit-learn on [1, X] without row i, C = 1/δ
    # (the intercept is penalised like every other weight, as in mpe_teach)
    Phi = np.hstack([np.ones((N_CANCER, 1)), X])
    model = LogisticRegression(delta=0.5).fit(X, y)
    for i in has_truth:
        keep = np.arange(N_CANCER) != i
        sk = SkLogistic(C=1 / 0.5, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(Phi[keep], y[keep])
        assert true[i] == pytest.approx(Phi[i] @ sk.coef_[0], abs=1e-5)
        w = np.ones(N_CANCER)
        w[i] = 0
        assert true[i] == pytest.approx(model.refit(w).train_outputs()[i, 0], abs=1e-10)
    # the summary's numbers are those of the written columns
    err_max = np.abs(est[has_truth] - true[has_truth]).max()
    r = np.corrcoef(est[has_truth], true[has_truth])[0, 1]
    assert f"max |error| {err_max:.3g}" in stdout
    assert f"Pearson r   {r:.6f}" in stdout
    # and the estimate is good: one Newton step from θ* (measured here: r = 0.99997, max error
    # 0.033 against true changes of f_i up to 0.64)
    f = model.train_outputs()[has_truth, 0]
    assert r > 0.999
    assert err_max < 0.1 * np.abs(true[has_truth] - f).max()
    # ten most sensitive rows are listed, most sensitive first
    top = [int(line.split()[0]) for line in stdout.splitlines()
           if line.startswith("    ") and line.split()[0].isdigit()]
    assert top == list(np.argsort(-sens, kind="stable")[:10])


def test_softmax_writes_one_column_per_class_and_no_file_without_out(files, capsys, tmp_path):
    out = tmp_path / "soft.csv"
    code, stdout, err = run(capsys, "sensitivity", files["blobs"], "--target", "label", "--model",
                            "softmax", "--method", "influence", "--out", out)
    assert code == 0, err
    header, rows = read_out(out)
    assert header == ["row", "y", "e_0", "e_1", "e_2", "loo_est_0", "loo_est_1", "loo_est_2",
                      "sensitivity", "variance", "rank"]
    assert len(rows) == 60
    e = np.array([[float(v) for v in r[2:5]] for r in rows])
    np.testing.assert_allclose(e.sum(axis=1), 0, atol=1e-12)      # p − onehot(y) sums to 0
    assert "Pearson r" not in stdout and "max |error|" not in stdout
    before = sorted(os.listdir(tmp_path))
    code, stdout, _ = run(capsys, "sensitivity", files["blobs"], "--target", "label", "--model", "softmax")
    assert code == 0
    assert "nothing written" in stdout and "--out" in stdout
    assert sorted(os.listdir(tmp_path)) == before


def test_mlp_runs_with_truth(files, capsys, tmp_path):
    out = tmp_path / "mlp.csv"
    code, stdout, err = run(capsys, "sensitivity", files["reg"], "--target", "price", "--model", "mlp",
                            "--task", "regression", "--hidden", "4", "--activation", "tanh",
                            "--truth", "2", "--seed", "1", "--out", out)
    assert code == 0, err
    header, rows = read_out(out)
    assert header[-3:] == ["loo_true_0", "variance", "rank"] and len(rows) == 40
    true = column(header, rows, "loo_true_0")
    assert np.sum(~np.isnan(true)) == 2
    assert "MLP (hidden=4, tanh, linear head" in stdout


def test_truth_larger_than_n_means_every_row(files, capsys, tmp_path):
    out = tmp_path / "all.csv"
    code, stdout, err = run(capsys, "sensitivity", files["reg"], "--target", "price", "--model",
                            "linear", "--structure", "diag", "--truth", "1000", "--out", out)
    assert code == 0, err
    header, rows = read_out(out)
    assert not np.isnan(column(header, rows, "loo_true_0")).any()
    # a diagonal precision is an approximation even for linear regression: the truth is still
    # the exact refit
    X, y = files["reg_data"]
    np.testing.assert_allclose(column(header, rows, "loo_true_0"), ridge_loo(X, y, 1.0, 1.0),
                               rtol=1e-9, atol=1e-10)
    assert "(by retraining n = 40 models)" in stdout


def test_feature_scale_warning(tmp_path, capsys):
    rng = np.random.default_rng(1)
    path = tmp_path / "scales.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["small", "big", "y"])
        for _ in range(30):
            a, b = rng.normal(), 1e5 * rng.normal()
            w.writerow([a, b, a + 1e-5 * b + rng.normal()])
    code, _, err = run(capsys, "sensitivity", path, "--target", "y", "--model", "linear")
    assert code == 0
    lines = [l for l in err.splitlines() if "standardis" in l]
    assert len(lines) == 1 and "'big'" in lines[0] and "'small'" in lines[0]


def test_help_lists_an_example(capsys):
    assert main(["--help"]) == 0
    assert "example:" in capsys.readouterr().out
    assert main(["sensitivity", "--help"]) == 0
    text = capsys.readouterr().out
    assert "mpe-teach sensitivity" in text and "--out" in text and "example:" in text


# ---- bad input ---------------------------------------------------------------------------------
def _write(root, name, text, mode="w"):
    path = root / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


BAD = {
    # name: (file contents or None for the cancer CSV, extra args, words the message must name)
    "missing file": (None, ["--target", "target", "--model", "logistic", "DATA=nope.csv"], "not found"),
    "missing column": (None, ["--target", "diagnosis", "--model", "logistic"], "'diagnosis'"),
    "non-numeric feature": ("a,b,y\n1,2,0\n3,x,1\n4,5,0\n", ["--target", "y", "--model", "logistic"], "'x'"),
    "NaN feature": ("a,b,y\n1,2,0\n3,nan,1\n4,5,0\n", ["--target", "y", "--model", "logistic"], "'nan'"),
    "empty feature": ("a,b,y\n1,2,0\n3,,1\n4,5,0\n", ["--target", "y", "--model", "logistic"], "empty"),
    "one class": ("a,b,y\n1,2,0\n3,4,0\n4,5,0\n", ["--target", "y", "--model", "logistic"], "1 distinct"),
    "one class softmax": ("a,b,y\n1,2,0\n3,4,0\n", ["--target", "y", "--model", "softmax"], "one class"),
    "three classes for logistic": ("a,y\n1,0\n2,1\n3,2\n4,0\n5,1\n6,2\n", ["--target", "y", "--model",
                                   "logistic"], "exactly 2"),
    "continuous target as classes": (None, ["--target", "mean radius", "--model", "softmax"], "distinct values"),
    "text target for linear": ("a,y\n1,cat\n2,dog\n", ["--target", "y", "--model", "linear"], "numeric"),
    "missing target": ("a,y\n1,0\n2,\n3,1\n", ["--target", "y", "--model", "logistic"], "empty"),
    "negative delta": (None, ["--target", "target", "--model", "logistic", "--delta", "-1"], "--delta"),
    "unknown structure": (None, ["--target", "target", "--model", "logistic", "--structure", "fancy"],
                          "'fancy'"),
    "mlp structure on glm": (None, ["--target", "target", "--model", "logistic", "--structure", "kfac"],
                             "mlp only"),
    "K zero": (None, ["--target", "target", "--model", "logistic", "--truth", "0"], "--truth"),
    "K negative": (None, ["--target", "target", "--model", "logistic", "--truth", "-3"], "--truth"),
    "K fraction": (None, ["--target", "target", "--model", "logistic", "--truth", "1.5"], "--truth"),
    "K text": (None, ["--target", "target", "--model", "logistic", "--truth", "some"], "--truth"),
    "unreadable CSV": (b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00binary", ["--target", "y", "--model", "linear"],
                       "not a readable CSV"),
    "empty CSV": ("", ["--target", "y", "--model", "linear"], "empty"),
    "header only": ("a,y\n", ["--target", "y", "--model", "linear"], "no data rows"),
    "ragged row": ("a,b,y\n1,2,0\n3,4\n", ["--target", "y", "--model", "logistic"], "fields"),
    "unknown model": (None, ["--target", "target", "--model", "forest"], "'forest'"),
    "mlp option on glm": (None, ["--target", "target", "--model", "logistic", "--hidden", "8"], "--hidden"),
    "bad hidden": (None, ["--target", "target", "--model", "mlp", "--hidden", "8,0"], "--hidden"),
    "noise var for classifier": (None, ["--target", "target", "--model", "logistic", "--noise-var", "2"],
                                 "--noise-var"),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("existing_out", [False, True], ids=["new-out", "existing-out"])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, existing_out, files, capsys, tmp_path):
    contents, args, named = BAD[case]
    if contents is None:
        data = files["cancer"]
    else:
        data = _write(tmp_path, "bad.csv", contents, "wb" if isinstance(contents, bytes) else "w")
    args = list(args)
    if "DATA=nope.csv" in args:
        args.remove("DATA=nope.csv")
        data = str(tmp_path / "nope.csv")
    out = tmp_path / "out.csv"
    if existing_out:
        out.write_text("keep me\n")
    before = sorted(os.listdir(tmp_path))
    code, stdout, err = run(capsys, "sensitivity", data, *args, "--out", out)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error" in lines[0] and named in lines[0], lines[0]
    assert "Traceback" not in err and stdout == ""
    assert sorted(os.listdir(tmp_path)) == before            # no output, no temporary file
    if existing_out:
        assert out.read_text() == "keep me\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(files, capsys, tmp_path, monkeypatch):
    import mpe_teach.table as table

    class Full:
        def writerows(self, rows):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(table.csv, "writer", lambda f: Full())
    out = tmp_path / "out.csv"
    out.write_text("keep me\n")
    code, _, err = run(capsys, "sensitivity", files["cancer"], "--target", "target", "--model",
                       "logistic", "--out", out)
    assert code == 2 and "No space left" in err and len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == ["out.csv"] and out.read_text() == "keep me\n"


def test_out_in_a_missing_directory_or_over_the_data_is_refused(files, capsys, tmp_path):
    code, _, err = run(capsys, "sensitivity", files["cancer"], "--target", "target", "--model",
                       "logistic", "--out", tmp_path / "no" / "such" / "dir.csv")
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "sensitivity", files["cancer"], "--target", "target", "--model",
                       "logistic", "--out", files["cancer"])
    assert code == 2 and "same file as the input" in err
    assert main([]) == 2


# ---- as a program --------------------------------------------------------------------------------
def test_python_dash_m_exit_codes(files, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "mpe_teach", "sensitivity", files["cancer"], "--target",
                         "target", "--model", "logistic", "--truth", "3", "--out", str(tmp_path / "o.csv")],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "Pearson r" in ok.stdout and (tmp_path / "o.csv").exists()
    bad = subprocess.run([sys.executable, "-m", "mpe_teach", "sensitivity", str(tmp_path / "missing.csv"),
                          "--target", "y", "--model", "linear"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "not found" in bad.stderr
