"""Property-based tests of the command line: CSV files and options that a new user or an
adversarial tester would feed ``mpe-teach sensitivity``.

Whatever the input, ``main(argv)``

* never lets an exception escape (a traceback is a failure),
* returns 0 or 2,
* on 2: writes exactly one visible line to stderr, starting with "mpe-teach", and no --out file
  (nor any temporary file next to it),
* on 0 with --out: writes a CSV with one row per data row whose loo_est_* and sensitivity values
  are all finite,
* never modifies the input file.

Warnings are left as they are: the CLI runs with Python's default warning filters, and a warning
that escapes ``main`` is added to stderr as Python would print it in a terminal (pytest would
otherwise swallow it). A progress bar erased with carriage returns does not count as a line: the
"visible" text of a line is what follows its last "\\r".

Runs in-process, deterministically (``derandomize=True``, no example database).
"""
import csv
import dataclasses
import io
import os
import stat
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mpe_teach.cli import main

# ---- running main ------------------------------------------------------------------------------


def _python_default_filters():
    """The warning filters of a plain ``python`` run without -W (what a user of the CLI gets)."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.filterwarnings("ignore", category=category)


def call_main(argv, capsys):
    """(exit status, stdout, stderr) of ``main(argv)``; warnings escaping main are appended to
    stderr as Python would print them. Exceptions propagate (they are failures)."""
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as escaped:
        _python_default_filters()
        code = main(list(argv))
    out, err = capsys.readouterr()
    err += "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
                   for w in escaped)
    return code, out, err


def visible_lines(text):
    """The non-empty lines a terminal would show (text after the last carriage return)."""
    return [line.rsplit("\r", 1)[-1] for line in text.split("\n")
            if line.rsplit("\r", 1)[-1].strip()]


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _finite(cell):
    try:
        return np.isfinite(float(cell))
    except ValueError:
        return False


def check_output_table(header, rows, n_rows):
    """One row per data row, finite loo_est_* and sensitivity."""
    assert len(rows) == n_rows, f"{len(rows)} output rows for {n_rows} data rows"
    cols = [j for j, name in enumerate(header)
            if name.startswith("loo_est_") or name == "sensitivity"]
    assert "sensitivity" in header and any(header[j].startswith("loo_est_") for j in cols), header
    bad = [(r, header[j], row[j]) for r, row in enumerate(rows) for j in cols
           if j >= len(row) or not _finite(row[j])]
    assert not bad, f"non-finite estimates (row, column, value): {bad[:5]}"


def check_contract(code, out_text, err, *, out_path, out_dir_before, out_dir, n_rows):
    """The properties every run must have (see the module docstring); the caller checks the data
    file. ``out_dir_before``: listing of ``out_dir`` before the run."""
    assert code in (0, 2), f"exit status {code!r}; stderr: {err!r}"
    if code == 2:
        lines = visible_lines(err)
        assert len(lines) == 1, f"exit 2 but stderr has {len(lines)} visible lines: {err!r}"
        assert lines[0].startswith("mpe-teach"), f"error line: {lines[0]!r}"
        if out_dir is not None:
            assert sorted(os.listdir(out_dir)) == out_dir_before, \
                f"exit 2 but files appeared: {sorted(os.listdir(out_dir))}"
        if out_path is not None and os.path.basename(out_path) not in out_dir_before:
            assert not os.path.lexists(out_path), "exit 2 but the --out file was created"
    elif out_path is not None:
        assert os.path.isfile(out_path), f"exit 0 but no --out file {out_path}; stdout {out_text!r}"
        header, rows = read_csv(out_path)
        check_output_table(header, rows, n_rows)
        if out_dir is not None:          # and no temporary file left next to it
            expected = sorted(set(out_dir_before) | {os.path.basename(out_path)})
            assert sorted(os.listdir(out_dir)) == expected, sorted(os.listdir(out_dir))
    elif out_dir is not None:            # without --out nothing is written
        assert sorted(os.listdir(out_dir)) == out_dir_before, sorted(os.listdir(out_dir))


# ---- cases ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """A CSV file (as text and encoding) and the options of one run."""

    text: str
    n_rows: int                      # data rows (records after the header, blank lines excluded)
    target: str
    model: str
    options: tuple = ()
    encoding: str = "utf-8"          # utf-8, utf-8-sig (BOM), latin-1, utf-16
    with_out: bool = True

    def data_bytes(self):
        errors = "replace" if self.encoding == "latin-1" else "strict"
        return self.text.encode(self.encoding, errors=errors)

    def argv(self, data, out):
        argv = ["sensitivity", data, "--target", self.target, "--model", self.model, *self.options]
        return argv + (["--out", out] if out is not None else [])

    def __repr__(self):     # a reproducer: the file and the command line
        return (f"Case(text={self.text!r}, n_rows={self.n_rows}, target={self.target!r}, "
                f"model={self.model!r}, options={self.options!r}, encoding={self.encoding!r}, "
                f"with_out={self.with_out})")


def make_csv(header, rows, eol="\n", quote_all=False, trailing_blank=False):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=eol, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue() + (eol if trailing_blank else "")


def simple_case(text, target, model, *options, n_rows=None, **kw):
    if n_rows is None:
        n_rows = sum(1 for row in csv.reader(io.StringIO(text, newline="")) if row) - 1
    return Case(text=text, n_rows=n_rows, target=target, model=model, options=tuple(options), **kw)


def run_case(case, root, capsys):
    """Write the case under a fresh directory in ``root``, run it, check every property."""
    d = tempfile.mkdtemp(dir=root)
    data = os.path.join(d, "data file.csv")
    raw = case.data_bytes()
    with open(data, "wb") as f:
        f.write(raw)
    out_dir = os.path.join(d, "out")
    os.mkdir(out_dir)
    out = os.path.join(out_dir, "sens.csv") if case.with_out else None
    code, stdout, err = call_main(case.argv(data, out), capsys)
    check_contract(code, stdout, err, out_path=out, out_dir_before=[], out_dir=out_dir,
                   n_rows=case.n_rows)
    with open(data, "rb") as f:
        assert f.read() == raw, "the data file was modified"
    return code, stdout, err


# ---- the generator -------------------------------------------------------------------------------

FEATURE_KINDS = ("normal", "normal", "normal", "integer", "constant", "collinear", "rare_onehot",
                 "rare_onehot", "huge", "big", "tiny", "text", "separable", "mostly_text")
TARGET_KINDS = {
    "linear": ("continuous", "continuous", "integer", "house_price", "huge", "tiny", "constant",
               "zeros", "binary", "text", "none_strings", "mixed"),
    "logistic": ("binary", "binary", "binary_text", "binary_float", "separable", "one_class",
                 "three_classes", "none_strings", "mixed", "continuous"),
    "softmax": ("three_classes", "three_classes", "binary", "binary_text", "separable",
                "one_class", "many_classes", "none_strings", "mixed", "continuous"),
}
POISON = ("nan", "NaN", "inf", "-inf", "Infinity", "", "  ", "abc", "None", "NA", "null",
          "1e300", "-1e300", "1e155", "1e-300", "1,5", " 2.5 ", "1_000", "0x10", "∞", "TRUE",
          "1e308", "5e-324")
NAMES = ("x", "price", "größe", "a b", "price, usd", 'say "hi"', " padded ", "", "y", "1", "f0",
         "target")


def _fmt(v, style):
    if style == 0:
        return repr(float(v))
    if style == 1:
        return f"{v:.4g}"
    return f"{v:.6e}"


def _feature(kind, rng, n, cols, labels):
    if kind == "normal":
        return rng.normal(size=n)
    if kind == "integer":
        return rng.integers(0, 5, size=n).astype(float)
    if kind == "constant":
        return np.full(n, 3.0)
    if kind == "collinear":
        return 2.0 * cols[-1] + 1.0 if cols else np.full(n, 1.0)
    if kind == "rare_onehot":
        x = np.zeros(n)
        x[rng.integers(0, n)] = 1.0
        return x
    if kind == "huge":
        return 1e155 * rng.normal(size=n)
    if kind == "big":
        return 1e5 * rng.normal(size=n)
    if kind == "tiny":
        return 1e-300 * rng.normal(size=n)
    if kind == "separable":          # ten times the class index plus a little noise
        return 10.0 * labels + 0.1 * rng.normal(size=n)
    raise AssertionError(kind)


def _target(kind, rng, n, X, labels3):
    """Target cells (strings) and, for classifiers, the class index used for separable features."""
    signal = X @ rng.normal(size=X.shape[1]) if X.shape[1] else np.zeros(n)
    noisy = signal + rng.normal(size=n)
    binary = (noisy > np.median(noisy)).astype(int)
    if kind == "continuous":
        return [repr(float(v)) for v in 0.7 + noisy], binary
    if kind == "integer":
        return [str(int(v)) for v in rng.integers(0, 10, size=n)], binary
    if kind == "house_price":
        return [f"{v:.0f}" for v in 3e5 + 5e4 * noisy], binary
    if kind == "huge":
        return [repr(float(v)) for v in 1e300 * (1.0 + 0.5 * np.tanh(noisy))], binary
    if kind == "tiny":
        return [repr(float(v)) for v in 1e-300 * noisy], binary
    if kind == "constant":
        return ["4.2"] * n, binary
    if kind == "zeros":
        return ["0"] * n, binary
    if kind == "binary":
        return [str(v) for v in binary], binary
    if kind == "binary_text":
        return [("yes", "no")[v] for v in binary], binary
    if kind == "binary_float":       # "1" and "1.0" are one class
        return [(("0", "0.0"), ("1", "1.0"))[v][i % 2] for i, v in enumerate(binary)], binary
    if kind == "separable":
        return [str(v) for v in labels3 % 2], labels3 % 2
    if kind == "one_class":
        return ["1"] * n, np.zeros(n, dtype=int)
    if kind == "three_classes":
        return [("a", "b", "c")[v] for v in labels3], labels3
    if kind == "many_classes":
        return [str(i) for i in range(n)], np.arange(n)
    if kind == "none_strings":
        return [("None", "1")[v] for v in binary], binary
    if kind == "mixed":
        return [("1", "cat", "2.5", "None")[i % 4] for i in range(n)], binary
    if kind == "text":
        return [("cat", "dog")[v] for v in binary], binary
    raise AssertionError(kind)


@st.composite
def cases(draw, model):
    n = draw(st.integers(1, 40), label="n")
    kinds = draw(st.lists(st.sampled_from(FEATURE_KINDS), min_size=1, max_size=5), label="features")
    target_kind = draw(st.sampled_from(TARGET_KINDS[model]), label="target")
    seed = draw(st.integers(0, 2**16), label="seed")
    style = draw(st.integers(0, 2), label="number format")
    rng = np.random.default_rng(seed)

    labels3 = rng.integers(0, 3, size=n)
    if target_kind == "separable":
        labels3 = labels3 % 2
    numeric = []
    cells = []                                     # one list of strings per feature column
    for kind in kinds:
        if kind == "text":
            cells.append([f"item {i}, café" for i in range(n)])
            continue
        if kind == "mostly_text":                  # one number in a text column
            cells.append(["7" if i == n // 2 else "n/a" for i in range(n)])
            continue
        values = _feature(kind, rng, n, numeric, labels3)
        numeric.append(values)
        cells.append([_fmt(v, style) for v in values])
    X = np.array(numeric).T if numeric else np.zeros((n, 0))
    y_cells, _ = _target(target_kind, rng, n, X, labels3)

    # the header: plain names, sometimes odd ones or a duplicate
    names = [f"f{j}" for j in range(len(kinds))] + ["target"]
    for j in draw(st.lists(st.integers(0, len(names) - 1), max_size=2, unique=True), label="renamed"):
        names[j] = draw(st.sampled_from(NAMES), label="name")
    position = draw(st.integers(0, len(kinds)), label="target position")
    target_name = names[-1]
    header = names[:-1]
    header.insert(position, target_name)
    cells.insert(position, y_cells)
    rows = [[col[i] for col in cells] for i in range(n)]

    # poison a few cells (any column, the target included)
    n_poison = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]), label="poisoned cells")
    for _ in range(n_poison):
        row, col = draw(st.integers(0, n - 1), label="row"), draw(st.integers(0, len(header) - 1), label="col")
        rows[row][col] = draw(st.sampled_from(POISON), label="poison")

    eol = draw(st.sampled_from(["\n", "\r\n"]), label="eol")
    text = make_csv(header, rows, eol=eol, quote_all=draw(st.booleans(), label="quote all"),
                    trailing_blank=draw(st.booleans(), label="trailing blank line"))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]),
                    label="encoding")

    options = []
    delta = draw(st.sampled_from([None, "0", "0", "1e-8", "1", "0.5", "100"]), label="delta")
    if delta is not None:
        options += ["--delta", delta]
    truth = draw(st.sampled_from([None, None, "1", "3", "all", "1000"]), label="truth")
    if truth is not None:
        options += ["--truth", truth]
    method = draw(st.sampled_from([None, "influence"]), label="method")
    if method is not None:
        options += ["--method", method]
    structure = draw(st.sampled_from([None, "diag", "full"]), label="structure")
    if structure is not None:
        options += ["--structure", structure]
    if model == "linear" and draw(st.booleans(), label="noise var"):
        options += ["--noise-var", "2"]
    # the target as the user would type it: the name as written, or stripped of spaces
    target_arg = target_name.strip() if draw(st.booleans(), label="strip target") else target_name
    return Case(text=text, n_rows=n, target=target_arg, model=model, options=tuple(options),
                encoding=encoding, with_out=draw(st.sampled_from([True, True, True, False]), label="out"))


FUZZ = settings(max_examples=800, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

_OK = "a,b,y\n0.1,1.2,0\n0.5,-0.3,1\n-1.1,0.4,0\n0.9,0.8,1\n-0.2,-1.5,0\n1.3,0.2,1\n"


@FUZZ
@given(case=cases("linear"))
@example(case=simple_case(_OK.replace("\n", "\r\n"), "y", "linear", "--truth", "all"))
@example(case=simple_case(_OK + "\n", "y", "linear", "--delta", "0", "--truth", "3"))
@example(case=simple_case(_OK, "y", "linear", "--delta", "1e-8", encoding="utf-8-sig"))
@example(case=simple_case('"a,1",b,y\n' + _OK.split("\n", 1)[1], "y", "linear", "--method", "influence"))
@example(case=simple_case(_OK, "y", "linear", encoding="utf-16"))
@example(case=simple_case("größe,y\n1,2\n2,3\n3,5\n", "y", "linear", encoding="latin-1"))
@example(case=simple_case("a,y\n1,2\n", "y", "linear", "--truth", "all"))
@example(case=simple_case("a,b,c,d,y\n1,2,3,4,5\n2,1,0,3,1\n", "y", "linear", "--truth", "all"))
@example(case=simple_case("a,b,c,d,y\n1,2,3,4,5\n2,1,0,3,1\n", "y", "linear", "--delta", "0"))
@example(case=simple_case("a,b,c,d,y\n1,2,3,4,5\n2,1,0,3,1\n", "y", "linear", "--delta", "1e-8",
                          "--truth", "all", "--structure", "diag"))
def test_fuzz_linear(case, tmp_path, capsys):
    run_case(case, tmp_path, capsys)


@FUZZ
@given(case=cases("logistic"))
@example(case=simple_case(_OK, "y", "logistic", "--structure", "diag", "--truth", "3"))
@example(case=simple_case("a,a,y\n1,2,0\n3,4,1\n", "y", "logistic"))
@example(case=simple_case(_OK.replace(",0\n", ",no\n").replace(",1\n", ",yes\n"), "y", "logistic",
                          "--method", "influence", "--truth", "all"))
def test_fuzz_logistic(case, tmp_path, capsys):
    run_case(case, tmp_path, capsys)


@FUZZ
@given(case=cases("softmax"))
@example(case=simple_case("a,y\n1,a\n2,b\n3,c\n4,a\n5,b\n6,c\n", "y", "softmax", "--truth", "all"))
@example(case=simple_case("a,y\n1,1\n2,1.0\n3,2\n4,2\n", "y", "softmax", "--delta", "1e-8"))
def test_fuzz_softmax(case, tmp_path, capsys):
    run_case(case, tmp_path, capsys)


# ---- known bad cases -----------------------------------------------------------------------------


def _table(header, rows):
    return make_csv(header, [[repr(float(v)) if not isinstance(v, str) else v for v in r] for r in rows])


def _separable():
    return "x,y\n0,0\n1,0\n2,0\n3,1\n4,1\n5,1\n"


def _rare_onehot():
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    rare = np.zeros(12)
    rare[7] = 1.0
    y = 0.5 + x + 0.3 * rng.normal(size=12)
    return _table(["x", "rare", "y"], np.column_stack([x, rare, y]).tolist())


def _n_equals_p():
    rng = np.random.default_rng(4)       # 3 rows, 2 features + intercept = 3 parameters
    return _table(["a", "b", "y"], np.column_stack([rng.normal(size=(3, 2)), rng.normal(size=3)]).tolist())


def _house_prices(n_columns, n=30):
    """Square feet, bedrooms, bathrooms (and the year built), and a price of about 3e5."""
    rng = np.random.default_rng(5)
    sqft = rng.normal(1500, 400, n).round()
    beds = rng.integers(1, 6, n)
    baths = rng.integers(1, 4, n)
    year = rng.integers(1950, 2020, n)
    price = 5e4 + 150 * sqft + 1e4 * beds + 8e3 * baths + 100 * (year - 1950) + rng.normal(0, 2e4, n)
    table = np.column_stack([sqft, beds, baths, year, price])
    keep = [0, 1, 2, 3, 4] if n_columns == 5 else [0, 1, 2, 4]
    names = ["sqft", "bedrooms", "bathrooms", "year", "price"]
    return make_csv([names[j] for j in keep], [[f"{v:.0f}" for v in row[keep]] for row in table])


def _huge_target():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(8, 2))
    y = 1e300 * (1.0 + 0.3 * rng.normal(size=8))
    return x, y, _table(["a", "b", "y"], np.column_stack([x, y]).tolist())


KNOWN_BAD = {
    "separable logistic, delta 0, truth 3":
        simple_case(_separable(), "y", "logistic", "--delta", "0", "--truth", "3"),
    "linear rare one-hot, delta 0, truth all":
        simple_case(_rare_onehot(), "y", "linear", "--delta", "0", "--truth", "all"),
    "linear n = P, delta 0, truth all":
        simple_case(_n_equals_p(), "y", "linear", "--delta", "0", "--truth", "all"),
    "feature values 1e300":
        simple_case("a,b,y\n1e300,1,0.5\n-1e300,2,1.5\n2e300,3,2.5\n5,4,3.5\n", "y", "linear"),
    "feature values 1e300, logistic":
        simple_case("a,b,y\n1e300,1,0\n-1e300,2,1\n2e300,3,0\n5,4,1\n", "y", "logistic"),
    "target 'None' strings, linear":
        simple_case("a,y\n1,None\n2,1\n3,None\n4,2\n", "y", "linear"),
    "target 'None' strings, logistic":
        simple_case("a,y\n1,None\n2,1\n3,None\n4,1\n5,None\n", "y", "logistic", "--truth", "all"),
    "target 'None' and numbers, softmax":
        simple_case("a,y\n1,None\n2,1\n3,None\n4,1\n5,2\n6,2\n", "y", "softmax"),
    "linear, zero target, a 1e155 feature":
        simple_case("a,y\n0,0\n1e155,0\n", "y", "linear"),
    "linear, tiny target, a 1e155 feature":
        simple_case("a,y\n3,-1.7e-300\n3,-3.5e-301\n1e155,-2e-300\n", "y", "linear", "--delta", "1e-8"),
    "refit fails after a note and a scale warning":        # one line, not note + warning + error
        simple_case("name,a,b,y\nu,0.64,36159.5,1\nv,0.105,130400.0,0\nw,-0.536,94708.1,0\n", "y",
                    "logistic", "--delta", "0", "--truth", "1"),
    "mlp on a small binary table":
        simple_case(_OK, "y", "mlp", "--hidden", "3", "--truth", "2"),
    "mlp regression with a NaN feature":
        simple_case("a,y\n1,2\nnan,3\n3,4\n", "y", "mlp", "--hidden", "3", "--task", "regression"),
    "mlp regression on one row":
        simple_case("a,y\n1,2\n", "y", "mlp", "--hidden", "3", "--task", "regression", "--truth", "all"),
}


@pytest.mark.parametrize("name", list(KNOWN_BAD))
def test_known_bad_case(name, tmp_path, capsys):
    run_case(KNOWN_BAD[name], tmp_path, capsys)


@pytest.mark.parametrize("n_columns", [4, 5])
def test_house_price_scale_target(n_columns, tmp_path, capsys):
    """y ≈ 3e5 with 3 or 4 features, linear, delta 1, truth all: a routine run. At most a couple
    of warning lines, and exit 0."""
    case = simple_case(_house_prices(n_columns), "price", "linear", "--delta", "1", "--truth", "all")
    code, _, err = run_case(case, tmp_path, capsys)
    assert code == 0, err
    lines = visible_lines(err)
    assert len(lines) <= 2, f"{len(lines)} lines on stderr:\n" + "\n".join(lines[:6])


def _ridge(X, y, delta=1.0, noise_var=1.0):
    """Fitted outputs and leave-one-out outputs of ridge regression (intercept penalised too)."""
    Phi = np.hstack([np.ones((len(y), 1)), X])
    A = Phi.T @ Phi / noise_var + delta * np.eye(Phi.shape[1])
    f = Phi @ np.linalg.solve(A, Phi.T @ y / noise_var)
    loo = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        A = Phi[keep].T @ Phi[keep] / noise_var + delta * np.eye(Phi.shape[1])
        loo[i] = Phi[i] @ np.linalg.solve(A, Phi[keep].T @ y[keep] / noise_var)
    return f, loo


def test_target_of_size_1e300(tmp_path, capsys):
    """Either refused (exit 2, one line) or correct: never exit 0 with fitted values near 0."""
    X, y, text = _huge_target()
    case = simple_case(text, "y", "linear", "--truth", "all")
    d = tmp_path / "run"
    d.mkdir()
    code, _, err = run_case(case, d, capsys)
    if code == 0:
        (out,) = list(d.glob("*/out/sens.csv"))
        header, rows = read_csv(out)
        col = {name: np.array([float(r[j]) for r in rows]) for j, name in enumerate(header) if name != "y"}
        # linear regression is linear in y: solve at y / 1e300 and scale back
        f, loo = _ridge(X, y / 1e300)
        np.testing.assert_allclose(col["e_0"], (f - y / 1e300) * 1e300, rtol=1e-6,
                                   err_msg="prediction errors e = f - y (fitted values f)")
        np.testing.assert_allclose(col["loo_est_0"], loo * 1e300, rtol=1e-6, err_msg="loo_est_0")
        np.testing.assert_allclose(col["loo_true_0"], loo * 1e300, rtol=1e-6, err_msg="loo_true_0")


# ---- odd --out ------------------------------------------------------------------------------------

_DATA = _OK


def _run_with_out(tmp_path, capsys, out, out_dir, model="logistic", *options):
    data = tmp_path / "data.csv"
    data.write_text(_DATA)
    raw = data.read_bytes()
    before = sorted(os.listdir(out_dir))
    code, stdout, err = call_main(["sensitivity", str(data), "--target", "y", "--model", model,
                                   *options, "--out", out], capsys)
    assert data.read_bytes() == raw
    return code, stdout, err, before


def test_out_empty_string(tmp_path, capsys, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    code, stdout, err, before = _run_with_out(tmp_path, capsys, "", cwd)
    check_contract(code, stdout, err, out_path=None, out_dir_before=before, out_dir=cwd, n_rows=6)
    assert code == 2, "--out '' names no file"


def test_out_an_existing_directory(tmp_path, capsys):
    target = tmp_path / "results"
    target.mkdir()
    (target / "keep.txt").write_text("keep\n")
    code, stdout, err, before = _run_with_out(tmp_path, capsys, str(target), tmp_path)
    check_contract(code, stdout, err, out_path=None, out_dir_before=before, out_dir=tmp_path, n_rows=6)
    assert code == 2
    assert sorted(os.listdir(target)) == ["keep.txt"] and (target / "keep.txt").read_text() == "keep\n"


def test_out_in_a_read_only_directory(tmp_path, capsys):
    """chmod 0o555: not writable by its mode bits (the tests run as root, so the CLI has to look at
    the mode, not at whether a write happens to succeed)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, stdout, err, before = _run_with_out(tmp_path, capsys, str(ro / "sens.csv"), ro)
        check_contract(code, stdout, err, out_path=str(ro / "sens.csv"), out_dir_before=before,
                       out_dir=ro, n_rows=6)
        assert code == 2, "wrote into a read-only (0o555) directory"
        assert os.listdir(ro) == []
        assert stat.S_IMODE(ro.stat().st_mode) == 0o555
    finally:
        ro.chmod(0o755)


def test_out_an_existing_read_only_file(tmp_path, capsys):
    target = tmp_path / "old.csv"
    target.write_text("keep me\n")
    target.chmod(0o444)
    try:
        code, stdout, err, before = _run_with_out(tmp_path, capsys, str(target), tmp_path)
        check_contract(code, stdout, err, out_path=str(target), out_dir_before=before,
                       out_dir=tmp_path, n_rows=6)
        assert target.read_text() == "keep me\n", "a read-only (0o444) --out file was overwritten"
        assert stat.S_IMODE(target.stat().st_mode) == 0o444, oct(target.stat().st_mode)
        assert code == 2
    finally:
        target.chmod(0o644)


def test_out_a_fifo(tmp_path, capsys):
    """A named pipe stays a named pipe: the CLI may refuse it (exit 2) or write the table into it,
    but must not replace it by a regular file. A reader is opened first so a write cannot block."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        code, stdout, err, before = _run_with_out(tmp_path, capsys, str(fifo), tmp_path)
        assert code in (0, 2), err
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
        assert sorted(os.listdir(tmp_path)) == before
        if code == 2:
            lines = visible_lines(err)
            assert len(lines) == 1 and lines[0].startswith("mpe-teach"), err
        else:
            chunks = []
            while True:
                try:
                    chunk = os.read(reader, 65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            rows = list(csv.reader(io.StringIO(b"".join(chunks).decode(), newline="")))
            assert rows, "exit 0 but nothing was written into the FIFO"
            check_output_table(rows[0], rows[1:], 6)
    finally:
        os.close(reader)
