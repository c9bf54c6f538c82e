"""``Sensitivity.report()`` (one row per training example, as a DataFrame) and the CLI's picture
``--plot FILE.png``: the frame holds the Sensitivity arrays under its column names and keeps the
caller's index; the PNG is drawn, not blank, and a bad --plot path writes nothing."""
import csv
import os

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from mpe_teach import LogisticRegression, Sensitivity, SoftmaxRegression
from mpe_teach.datasets import breast_cancer
from mpe_teach.report_plot import sensitivity_figure

from conftest import binary_problem, multiclass_problem
from conftest import run_cli as run


# ---- Sensitivity.report() ----------------------------------------------------------------------
def _expected_rank(sensitivity):
    """1 = the largest sensitivity; ties in row order (by a plain Python sort, not argsort)."""
    order = sorted(range(len(sensitivity)), key=lambda i: (-sensitivity[i], i))
    rank = np.empty(len(sensitivity), dtype=int)
    for r, i in enumerate(order, start=1):
        rank[i] = r
    return rank


def test_report_holds_the_sensitivity_arrays_for_one_output():
    X, y = binary_problem(n=60)
    sens = Sensitivity(LogisticRegression(delta=0.5).fit(X, y))
    report = sens.report()
    assert list(report.columns) == ["error", "variance", "sensitivity", "loo_output", "rank"]
    assert report.index.equals(pd.RangeIndex(60)) and report.index.name == "row"
    np.testing.assert_array_equal(report["error"], sens.errors_[:, 0])
    np.testing.assert_array_equal(report["variance"], sens.variances_[:, 0, 0])
    np.testing.assert_array_equal(report["sensitivity"], sens.sensitivities())
    np.testing.assert_array_equal(report["loo_output"], sens.loo_outputs()[:, 0])
    np.testing.assert_array_equal(report["rank"], _expected_rank(sens.sensitivities()))
    assert report["rank"].dtype.kind == "i"
    # the method is passed on: the first-order estimates differ from the finite form's
    influence = sens.report(method="influence")
    np.testing.assert_array_equal(influence["loo_output"], sens.loo_outputs("influence")[:, 0])
    assert not np.allclose(influence["loo_output"], report["loo_output"])


def test_report_has_one_column_per_output_for_softmax():
    X, y = multiclass_problem(n=45, k=3)
    sens = Sensitivity(SoftmaxRegression(delta=1.0).fit(X, y))
    report = sens.report()
    assert list(report.columns) == ["error_0", "error_1", "error_2", "variance", "sensitivity",
                                    "loo_output_0", "loo_output_1", "loo_output_2", "rank"]
    np.testing.assert_array_equal(report[["error_0", "error_1", "error_2"]].to_numpy(), sens.errors_)
    np.testing.assert_array_equal(report[["loo_output_0", "loo_output_1", "loo_output_2"]].to_numpy(),
                                  sens.loo_outputs())
    # tr V_i: the sum of the per-class variances
    np.testing.assert_allclose(report["variance"], [np.diag(V).sum() for V in sens.variances_], rtol=1e-14)
    np.testing.assert_array_equal(report["sensitivity"], sens.sensitivities())
    assert sorted(report["rank"]) == list(range(1, 46))


def test_report_keeps_the_index_of_the_fitted_dataframe():
    X, y = binary_problem(n=50, d=2)
    rng = np.random.default_rng(4)
    index = pd.Index(rng.permutation(np.arange(1000, 1050)) * 3, name="patient")   # not 0..n−1
    frame = pd.DataFrame(X, columns=["age", "dose"], index=index)
    target = pd.Series(y, index=index)
    model = LogisticRegression(delta=1.0).fit(frame, target)
    assert list(model.feature_names_in_) == ["age", "dose"]
    sens = Sensitivity(model)
    for given in (frame.index, frame, list(frame.index)):
        report = sens.report(index=given)
        assert report.index.equals(frame.index)
        np.testing.assert_array_equal(report["sensitivity"], sens.sensitivities())
    assert sens.report(index=frame).index.name == "patient"
    # joins back onto the data by label, row for row
    joined = frame.join(sens.report(index=frame))
    np.testing.assert_array_equal(joined["loo_output"], sens.loo_outputs()[:, 0])
    most = joined["rank"].idxmin()
    assert joined.loc[most, "sensitivity"] == sens.sensitivities().max()
    assert most == frame.index[np.argmax(sens.sensitivities())]
    with pytest.raises(ValueError, match="49 entries.*50 examples"):
        sens.report(index=frame.index[:49])


# ---- the CLI's --plot ------------------------------------------------------------------------
def _check_png(path):
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 300 and image.shape[1] > 600
    assert image[..., :3].std() > 0.05                       # drawn on, not one colour
    return image


def test_plot_with_truth_has_three_panels_and_the_csv_the_report(cancer_csv, capsys, tmp_path):
    png, out = tmp_path / "sens.png", tmp_path / "sens.csv"
    code, stdout, err = run(capsys, "sensitivity", cancer_csv, "--target", "target", "--model",
                            "logistic", "--truth", "8", "--plot", png, "--out", out)
    assert code == 0, err
    assert f"plot        written to {png}" in stdout
    with_truth = _check_png(png)
    assert sorted(os.listdir(tmp_path)) == ["sens.csv", "sens.png"]     # no temporary files
    # the CSV's variance and rank columns are the report's
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header[-2:] == ["variance", "rank"]
    d = breast_cancer()
    model = LogisticRegression(delta=1.0).fit(d.X_train[:120, :6], d.y_train[:120])
    report = Sensitivity(model).report()
    np.testing.assert_allclose([float(r[header.index("variance")]) for r in body], report["variance"],
                               rtol=1e-9)
    assert [int(r[header.index("rank")]) for r in body] == report["rank"].tolist()
    # without --truth: two panels, so a narrower picture; and no CSV unless asked
    png2 = tmp_path / "two.png"
    code, stdout, err = run(capsys, "sensitivity", cancer_csv, "--target", "target", "--model",
                            "logistic", "--plot", png2)
    assert code == 0, err
    assert "no CSV written" in stdout
    without = _check_png(png2)
    assert without.shape[1] < 0.8 * with_truth.shape[1]


def test_plot_for_softmax_and_names_with_dollars(tmp_path, capsys):
    """k = 3 outputs; "$" in the file and column names is text, not matplotlib's mathtext."""
    X, y = multiclass_problem(n=60, k=3)
    data = tmp_path / "prices $1$.csv"
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "class $c$"])
        w.writerows([[*map(repr, X[i].tolist()), int(y[i])] for i in range(60)])
    code, _, err = run(capsys, "sensitivity", data, "--target", "class $c$", "--model", "softmax",
                       "--truth", "6", "--plot", tmp_path / "soft.png")
    assert code == 0, err
    _check_png(tmp_path / "soft.png")


@pytest.mark.parametrize("kind", ["directory", "read-only file", "missing directory", "the data",
                                  "same as --out"])
def test_bad_plot_path_exits_2_with_one_line_and_writes_nothing(kind, cancer_csv, capsys, tmp_path):
    out = tmp_path / "sens.csv"
    extra = ["--out", out]
    if kind == "directory":
        plot = tmp_path / "pictures"
        plot.mkdir()
    elif kind == "read-only file":
        plot = tmp_path / "old.png"
        plot.write_bytes(b"old picture")
        plot.chmod(0o444)
    elif kind == "missing directory":
        plot = tmp_path / "no" / "such" / "p.png"
    elif kind == "the data":
        plot = cancer_csv
    else:
        plot = out
    before = sorted(os.listdir(tmp_path))
    data_before = open(cancer_csv, "rb").read()
    try:
        code, stdout, err = run(capsys, "sensitivity", cancer_csv, "--target", "target", "--model",
                                "logistic", "--truth", "3", "--plot", plot, *extra)
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "--plot" in lines[0] and "error" in lines[0], err
        assert stdout == ""
        assert sorted(os.listdir(tmp_path)) == before          # neither the CSV nor a temporary file
        assert open(cancer_csv, "rb").read() == data_before
        if kind == "read-only file":
            assert plot.read_bytes() == b"old picture"
        if kind == "directory":
            assert os.listdir(plot) == []
    finally:
        if kind == "read-only file":
            plot.chmod(0o644)


def test_bad_plot_path_is_refused_before_any_work(cancer_csv, capsys, tmp_path, monkeypatch):
    """Like --out: checked before the model is fitted (so a long --truth run never ends in an
    unwritable picture)."""
    import mpe_teach.cli as cli

    def no_fit(*args, **kwargs):
        raise AssertionError("the model was fitted before --plot was checked")

    monkeypatch.setattr(cli, "read_table", no_fit)
    code, _, err = run(capsys, "sensitivity", cancer_csv, "--target", "target", "--model", "logistic",
                       "--plot", tmp_path)
    assert code == 2 and "--plot" in err and "directory" in err


# ---- report_plot on its own ---------------------------------------------------------------------
def test_log_axes_only_where_the_values_span_decades():
    rng = np.random.default_rng(0)
    n = 40
    sensitivity = 10.0 ** rng.uniform(-8, 0, n)
    sensitivity[:3] = 0.0                                   # exact zeros are drawn at the floor
    error = rng.uniform(0.2, 0.9, n)                        # less than a decade
    variance = 10.0 ** rng.uniform(-1, 2, n)
    fig = sensitivity_figure(sensitivity, error, variance)
    left, right = fig.axes[:2]
    assert len([ax for ax in fig.axes if ax.has_data()]) == 2
    assert left.get_yscale() == "log" and right.get_yscale() == "log"
    assert left.get_xscale() == "linear" and right.get_xscale() == "log"
    assert "drawn at" in left.get_ylabel()                  # zeros and tiny values: said so
    labels = {t.get_text() for t in left.texts}
    top = {str(i) for i in np.argsort(-sensitivity)[:10]}
    assert labels == top                                    # the 10 most sensitive, by row number
    assert "wrong AND uncertain" in fig.get_suptitle()
