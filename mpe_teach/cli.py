"""Command line: the sensitivity of every training example in a CSV file (mpe-math §5, §8, §9).

    mpe-teach sensitivity DATA.csv --target COL --model {linear,logistic,softmax,mlp} [options]
    python -m mpe_teach sensitivity ...          (the same)

The model is fitted to all rows of DATA.csv (the features are every column except the target;
a column without a single number in it, such as a name, is ignored with a note). Then, for each
example i, the MPE estimates its leave-one-out output f_i^{\\i} = f_i + Δf_i without retraining,
and ``--truth K`` retrains without each of the K most sensitive examples to show how close the
estimates are. A summary goes to standard output; ``--out OUT.csv`` also writes one row per
example with the columns

    row            position among the data rows (0 = the first row after the header)
    y              the target as written in DATA.csv
    e_0 … e_{k-1}  the prediction error e_i = ∂ℓ/∂f at the fitted parameters
    loo_est_0 …    the estimated leave-one-out output f_i^{\\i}
    sensitivity    how much example i's own prediction moves when it is removed
                   (``Sensitivity.deviations``: |Δf_i| for regression, Σ_c |Δp_ic| otherwise)
    loo_true_0 …   (with --truth) f_i^{\\i} from retraining without example i; empty when not computed

k is the number of outputs: 1 for linear and logistic regression, the number of classes for
softmax. Without ``--out`` nothing is written. Bad input (a missing file or column, non-numeric or
missing features, unusable labels, a bad option) exits with status 2 and a one-line message;
the output file is written only when everything succeeded (atomically, via a temporary file).
"""
import argparse
import csv
import math
import os
import sys
import tempfile
import time
import warnings

import numpy as np

from . import __version__
from .curvature import MLP_ONLY, STRUCTURES
from .mlp import ACTIVATIONS, MLP
from .models import LinearRegression, LogisticRegression, SoftmaxRegression
from .mpe import METHODS, Sensitivity

MODELS = ("linear", "logistic", "softmax", "mlp")
SCALE_RATIO = 1e3          # warn when feature standard deviations differ by more than this
N_SHOWN = 10               # most sensitive rows listed in the summary
QUIET_REFITS = 5           # no progress bar for this many refits or fewer

EXAMPLE = """\
example:
  mpe-teach sensitivity cancer.csv --target target --model logistic --truth 20 --out sens.csv

  fits logistic regression to cancer.csv, estimates how each example's prediction would change
  if it were left out, retrains without the 20 most sensitive examples to check the estimates,
  prints a summary and writes one row per example to sens.csv."""


class CLIError(Exception):
    """Bad input: reported as one line on stderr, exit status 2."""

    def __init__(self, message, prog=None):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (raised, so main can turn it into exit 2)."""

    def error(self, message):
        raise CLIError(f"{message} (see {self.prog} --help)", prog=self.prog)


# ---- argument types ----------------------------------------------------------------------
def _delta(text):
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (it is the L2 strength); got {text}")
    return value


def _noise_var(text):
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0; got {text}")
    return value


def _float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number; got {text!r}")
    return value


def _truth(text):
    if text == "all":
        return "all"
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer K or 'all'; got {text!r}")
    return k


def _hidden(text):
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"must be positive layer sizes separated by commas, such as 32 or 32,32; got {text!r}")
    return sizes


def _seed(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None


def build_parser():
    parser = _Parser(
        prog="mpe-teach",
        description="How much does each training example matter? Estimates, without retraining,\n"
                    "how a model's predictions change when an example is left out (the\n"
                    "Memory-Perturbation Equation), and retrains to check.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mpe-teach {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub = commands.add_parser(
        "sensitivity", help="leave-one-out sensitivity of every row of a CSV file",
        description="Fit a model to DATA.csv, estimate every example's leave-one-out output\n"
                    "f_i^{\\i} with the MPE and, with --truth, compare with retraining.\n\n"
                    "Prints a summary; --out is needed to write the per-example CSV, with columns\n"
                    "  row, y, e_*, loo_est_*, sensitivity and, with --truth, loo_true_*\n"
                    "(* = output index 0..k-1; row 0 = the first row after the header).\n"
                    "Bad input exits with status 2 and writes nothing.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_argument("data", metavar="DATA.csv", help="a CSV file with a header row")
    sub.add_argument("--target", required=True, metavar="COL", help="the column to predict; "
                     "every other numeric column is a feature (features are used as they are: "
                     "standardise them beforehand if their scales differ a lot)")
    sub.add_argument("--model", required=True, choices=MODELS,
                     help="linear regression, logistic regression (2 classes), softmax regression "
                          "(2 or more classes) or a small MLP")
    sub.add_argument("--delta", type=_delta, default=1.0, metavar="D",
                     help="L2 strength / prior precision δ >= 0 (default 1)")
    sub.add_argument("--noise-var", type=_noise_var, default=None, metavar="S2",
                     help="noise variance σ² of the Gaussian likelihood (linear, or mlp with "
                          "--task regression; default 1)")
    sub.add_argument("--hidden", type=_hidden, default=None, metavar="32,32",
                     help="mlp only: hidden layer sizes (default 32)")
    sub.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None,
                     help="mlp only: the hidden activation (default tanh)")
    sub.add_argument("--task", choices=("classification", "regression"), default=None,
                     help="mlp only (default classification: a logistic head for 2 classes, "
                          "softmax for more; regression: a linear head)")
    sub.add_argument("--structure", default="full", metavar="NAME",
                     help=f"curvature structure of the posterior precision S: "
                          f"{', '.join(_structures())} (default full; "
                          f"{', '.join(s for s in MLP_ONLY if s in STRUCTURES) or 'none'} for mlp only)")
    sub.add_argument("--method", choices=METHODS, default="mpe",
                     help="mpe: the finite form V(I − ΛV)⁻¹e; influence: the first-order Ve "
                          "(default mpe)")
    sub.add_argument("--truth", type=_truth, default=None, metavar="K|all",
                     help="retrain without each of the K most sensitive examples (or all) and "
                          "compare the estimated f^{\\i} with the retrained one")
    sub.add_argument("--out", default=None, metavar="OUT.csv",
                     help="write one row per example here; without it nothing is written")
    sub.add_argument("--seed", type=_seed, default=0, metavar="S",
                     help="mlp only: seed of the initial weights (default 0)")
    return parser


def _structures():
    """The curvature structures registered in mpe_teach.curvature (read at run time)."""
    return list(STRUCTURES)


# ---- reading the data ----------------------------------------------------------------------
def read_table(path, target):
    """Read a CSV with a header.

    Returns the feature names, X (n, d), the target cells (n strings) and the names of the
    columns ignored because not one of their cells is a number."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [(line, row) for row, line in _rows(csv.reader(f)) if row]
    except FileNotFoundError:
        raise CLIError(f"data file {path} not found") from None
    except IsADirectoryError:
        raise CLIError(f"data file {path} is a directory, not a CSV file") from None
    except PermissionError:
        raise CLIError(f"data file {path} cannot be read (permission denied)") from None
    except UnicodeDecodeError:
        raise CLIError(f"data file {path} is not a readable CSV (not UTF-8 text)") from None
    except csv.Error as exc:
        raise CLIError(f"data file {path} is not a readable CSV ({exc})") from None
    if not rows:
        raise CLIError(f"data file {path} is empty: expected a header row and data rows")
    header = [name.strip() for name in rows[0][1]]
    body = rows[1:]
    if not body:
        raise CLIError(f"data file {path} has a header but no data rows")
    seen = set()
    for name in header:
        if name in seen:
            raise CLIError(f"data file {path}: column name {name!r} appears more than once")
        seen.add(name)
    if target not in header:
        raise CLIError(f"column {target!r} (--target) not found in {path}; its columns are "
                       f"{_listing(header)}")
    for r, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise CLIError(f"data file {path}: row {r} (line {line}) has {len(row)} fields; "
                           f"the header has {len(header)}")
    t = header.index(target)
    names, columns, skipped = [], [], []
    for j, name in enumerate(header):
        if j == t:
            continue
        values = [_number(row[j]) for _, row in body]
        if all(v is None for v in values):
            skipped.append(name)
            continue
        for r, v in enumerate(values):
            if v is None or not math.isfinite(v):
                cell = body[r][1][j]
                what = "is empty" if not cell.strip() else f"is {cell!r}, not a finite number"
                raise CLIError(f"feature column {name!r}: row {r} (line {body[r][0]}) {what}; "
                               "features must be numeric with no missing values")
        names.append(name)
        columns.append(values)
    if not names:
        raise CLIError(f"data file {path} has no numeric feature column besides the target {target!r}")
    y = [row[t].strip() for _, row in body]
    return names, np.array(columns, dtype=float).T, y, skipped


def _rows(reader):
    """(row, line number where it ends) for every row of a csv reader."""
    for row in reader:
        yield row, reader.line_num


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def _listing(names, limit=8):
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def encode_target(y_text, column, model, regression):
    """Targets for the model: floats for regression; for classification numbers when every label
    is one ("1" and "1.0" are one class), the label strings otherwise. Refuses labels the model
    cannot use: logistic needs exactly 2 classes, the others at least 2, and more than 2 classes
    that outnumber half the rows look like a continuous target."""
    numbers = [_number(v) for v in y_text]
    for r, (v, text) in enumerate(zip(numbers, y_text)):
        if not text:
            raise CLIError(f"target column {column!r}: row {r} is empty")
        if v is not None and math.isnan(v):
            raise CLIError(f"target column {column!r}: row {r} is {text!r}; targets must not be missing")
    if regression:
        for r, (v, text) in enumerate(zip(numbers, y_text)):
            if v is None or not math.isfinite(v):
                raise CLIError(f"target column {column!r} must be numeric for regression; "
                               f"row {r} is {text!r}")
        return np.array(numbers, dtype=float)
    y = np.array(numbers, dtype=float) if all(v is not None for v in numbers) else np.array(y_text)
    n, k = len(y), len(np.unique(y))
    first = {}
    for text, value in zip(y_text, y.tolist()):
        first.setdefault(value, text)
    values = _listing(list(first.values()), limit=5)
    if model == "logistic" and k != 2:
        raise CLIError(f"target column {column!r} has {k} distinct value(s) ({values}); "
                       "--model logistic needs exactly 2 classes")
    if k < 2:
        raise CLIError(f"target column {column!r} has only one class ({values}); "
                       f"--model {model} needs at least 2")
    if k > 2 and k > n / 2:
        raise CLIError(f"target column {column!r} has {k} distinct values in {n} rows: these are "
                       "not usable as class labels (a regression target? try --model linear)")
    return y


def scale_warning(names, X):
    """A one-line warning when the features' standard deviations differ by more than
    SCALE_RATIO, else None."""
    sd = X.std(axis=0)
    varying = np.flatnonzero(sd > 0)
    if len(varying) < 2:
        return None
    hi, lo = varying[np.argmax(sd[varying])], varying[np.argmin(sd[varying])]
    if sd[hi] <= SCALE_RATIO * sd[lo]:
        return None
    return (f"warning: feature scales differ by a factor of {sd[hi] / sd[lo]:.0e} (std of "
            f"{names[hi]!r} is {sd[hi]:.3g}, of {names[lo]!r} {sd[lo]:.3g}); the fit uses them "
            "as they are: consider standardising the features")


# ---- the model -------------------------------------------------------------------------------
def is_regression(args):
    """Linear regression, or the MLP with --task regression (a Gaussian likelihood)."""
    return args.model == "linear" or (args.model == "mlp" and args.task == "regression")


def check_options(args):
    """Options that do not fit together (checked before the data is read)."""
    mlp_only = {"--hidden": args.hidden, "--activation": args.activation, "--task": args.task}
    if args.model != "mlp":
        for option, value in mlp_only.items():
            if value is not None:
                raise CLIError(f"{option} applies to --model mlp only; got --model {args.model}")
    regression = is_regression(args)
    if args.noise_var is not None and not regression:
        raise CLIError("--noise-var applies to regression only (--model linear, or mlp with "
                       f"--task regression); got --model {args.model}")
    if args.structure not in STRUCTURES:
        raise CLIError(f"unknown --structure {args.structure!r}; valid: {', '.join(_structures())}")
    if args.structure in MLP_ONLY and args.model != "mlp":
        raise CLIError(f"--structure {args.structure} applies to --model mlp only")


def make_model(args, y, regression):
    """The unfitted model the options ask for, and a one-line description of it."""
    noise_var = 1.0 if args.noise_var is None else args.noise_var
    if args.model == "linear":
        return LinearRegression(delta=args.delta, noise_var=noise_var), \
            f"linear regression (delta={args.delta:g}, noise_var={noise_var:g})"
    if args.model == "logistic":
        return LogisticRegression(delta=args.delta), f"logistic regression (delta={args.delta:g})"
    if args.model == "softmax":
        return SoftmaxRegression(delta=args.delta), f"softmax regression (delta={args.delta:g})"
    head = "linear" if regression else ("logistic" if len(np.unique(y)) == 2 else "softmax")
    hidden = args.hidden or (32,)
    activation = args.activation or "tanh"
    return MLP(hidden=hidden, activation=activation, head=head, delta=args.delta,
               noise_var=noise_var, seed=args.seed), \
        (f"MLP (hidden={','.join(map(str, hidden))}, {activation}, {head} head, "
         f"delta={args.delta:g}, seed={args.seed})")


def true_loo_outputs(model, rows):
    """f_i^{\\i} (len(rows), k) by retraining without each example: ``model.refit`` with w_i = 0,
    warm-started at θ* (mpe-math §9)."""
    from tqdm.auto import tqdm

    out = np.empty((len(rows), model.train_outputs().shape[1]))
    bar = tqdm(rows, desc="retraining without each example", unit="refit", file=sys.stderr,
               disable=len(rows) <= QUIET_REFITS, leave=False)
    for a, i in enumerate(bar):
        w = model.weights_.copy()
        w[i] = 0.0
        out[a] = model.refit(w).train_outputs()[i]
    return out


# ---- the command -----------------------------------------------------------------------------
def sensitivity(args):
    check_options(args)
    out = _check_out(args.out, args.data)
    names, X, y_text, skipped = read_table(args.data, args.target)
    regression = is_regression(args)
    y = encode_target(y_text, args.target, args.model, regression)
    model, description = make_model(args, y, regression)
    notes = [f"note: ignoring non-numeric column(s) {_listing(skipped)}"] if skipped else []
    notes += [w for w in [scale_warning(names, X)] if w]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            model.fit(X, y)
        except ValueError as exc:
            raise CLIError(f"cannot fit --model {args.model} to column {args.target!r}: {exc}") from None
        fit_time = time.perf_counter() - start
        for note in notes:                  # only now: a failed run prints one line only
            print(note, file=sys.stderr)
        try:
            sens = Sensitivity(model, args.structure)
            loo = sens.loo_outputs(args.method)
            dev = sens.deviations(args.method)
            loo_loss = sens.loo_loss(args.method)
        except ValueError as exc:
            raise CLIError(f"cannot compute sensitivities: {exc}") from None
        n = len(y)
        order = np.argsort(-dev, kind="stable")
        truth_rows = np.array([], dtype=int)
        if args.truth is not None:
            truth_rows = np.arange(n) if args.truth == "all" else order[:min(args.truth, n)]
        start = time.perf_counter()
        loo_true = true_loo_outputs(model, truth_rows) if len(truth_rows) else None
        truth_time = time.perf_counter() - start
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"warning: {message}", file=sys.stderr)

    lines = [f"mpe-teach sensitivity: {os.path.basename(args.data)}, target {args.target!r}",
             f"  model       {description}; structure {args.structure}, method {args.method}",
             f"  data        n = {n} examples, {X.shape[1]} features, P = {model.n_params_} parameters",
             f"  fit time    {fit_time:.3f} s",
             *_loss_lines(model, loo_loss, loo_true if len(truth_rows) == n else None),
             f"  the {min(N_SHOWN, n)} most sensitive rows (row, y, sensitivity):",
             *[f"    {i:6d}  {_short(y_text[i]):>12}  {dev[i]:.4g}" for i in order[:N_SHOWN]]]
    if loo_true is not None:
        lines += _truth_lines(model, loo, truth_rows, loo_true, truth_time)
    if out is None:
        lines.append("  output      nothing written (pass --out OUT.csv to save one row per example)")
    else:
        _write_atomic(out, _table(y_text, sens.errors_, loo, dev, truth_rows, loo_true))
        lines.append(f"  output      {n} rows written to {args.out}")
    print("\n".join(lines))
    return 0


def _loss_lines(model, loo_loss, loo_true=None):
    """The estimated LOO loss (§8) and, when every example was retrained, the true one."""
    if model.task == "regression":
        what, true = "mean squared error", lambda f: np.mean((model.y_ - f[:, 0]) ** 2)
    else:
        what, true = "mean negative log-likelihood", lambda f: np.mean(model.likelihood.nll(model.y_, f))
    lines = [f"  LOO loss    {loo_loss:.6g} (estimated; {what} of f^{{\\i}})"]
    if loo_true is not None:
        lines.append(f"              {true(loo_true):.6g} (by retraining n = {len(loo_true)} models)")
    return lines


def _truth_lines(model, loo, rows, loo_true, seconds):
    """Estimated against retrained f^{\\i} on the retrained rows: Pearson r and max |error|."""
    est = loo[rows]
    r = _pearson(est.ravel(), loo_true.ravel())
    change = np.abs(loo_true - model.train_outputs()[rows]).max()
    n, m = model.X_.shape[0], len(rows)
    which = (f"each of the {n} rows" if m == n else "the most sensitive row" if m == 1
             else f"each of the {m} most sensitive rows")
    return [f"  truth       retrained without {which} in {seconds:.2f} s "
            f"(warm-started at θ*, gradient tolerance {model.tol:g})",
            f"  Pearson r   {'n/a (needs 2+ varying values)' if np.isnan(r) else f'{r:.6f}'}"
            "  (estimated vs retrained f^{\\i})",
            f"  max |error| {np.abs(est - loo_true).max():.3g}  (largest true change of f: {change:.3g})"]


def _short(label):
    """A target cell for the summary: numbers to 6 significant digits, text to 12 characters."""
    v = _number(label)
    return f"{v:.6g}" if v is not None else (label if len(label) <= 12 else label[:11] + "…")


def _pearson(a, b):
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _table(y_text, e, loo, dev, truth_rows, loo_true):
    """The output rows: header, then one row per example (floats as round-trip repr)."""
    k = e.shape[1]
    header = (["row", "y"] + [f"e_{c}" for c in range(k)] + [f"loo_est_{c}" for c in range(k)]
              + ["sensitivity"])
    true_of = {}
    if loo_true is not None:
        header += [f"loo_true_{c}" for c in range(k)]
        true_of = {int(i): loo_true[a] for a, i in enumerate(truth_rows)}
    rows = [header]
    for i in range(len(y_text)):
        row = [str(i), y_text[i], *map(repr, e[i].tolist()), *map(repr, loo[i].tolist()),
               repr(float(dev[i]))]
        if loo_true is not None:
            row += list(map(repr, true_of[i].tolist())) if i in true_of else [""] * k
        rows.append(row)
    return rows


def _check_out(out, data):
    """Fail before any work if OUT cannot be written; returns the absolute path (or None)."""
    if out is None:
        return None
    path = os.path.abspath(out)
    if os.path.isdir(path):
        raise CLIError(f"--out {out} is a directory; expected a file name such as sens.csv")
    if not os.path.isdir(os.path.dirname(path)):
        raise CLIError(f"--out {out}: the directory {os.path.dirname(out) or '.'} does not exist")
    if os.path.exists(data) and os.path.exists(path) and os.path.samefile(data, path):
        raise CLIError(f"--out {out} is the data file itself; choose another name")
    return path


def _write_atomic(path, rows):
    """Write the CSV to a temporary file next to ``path``, then rename it over ``path``: readers
    see either the old file or the complete new one, never a partial one."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".mpe-teach-", suffix=".csv")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)          # mkstemp makes it private; use the usual mode
        with os.fdopen(fd, "w", newline="") as f:
            csv.writer(f).writerows(rows)
        os.replace(tmp, path)
    except OSError as exc:
        raise CLIError(f"cannot write --out {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None):
    """Entry point of ``mpe-teach`` and ``python -m mpe_teach``; returns the exit status."""
    parser = build_parser()
    prog = parser.prog
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:         # --help / --version
            return exc.code if isinstance(exc.code, int) else 0
        if args.command is None:
            raise CLIError("choose a command: sensitivity (see mpe-teach --help)")
        prog = f"mpe-teach {args.command}"
        return sensitivity(args)
    except CLIError as exc:
        message = " ".join(str(exc).split())
        print(f"{exc.prog or prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing written", file=sys.stderr)
        return 130
