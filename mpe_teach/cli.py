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
                   (``Sensitivity.sensitivities``: |Δf_i| for regression, Σ_c |Δp_ic| otherwise)
    loo_true_0 …   (with --truth) f_i^{\\i} from retraining without example i; empty when not computed
    variance       the prediction variance v_i (tr V_i for k > 1)
    rank           1 = the most sensitive row

(the columns of ``Sensitivity.report()``, under the names above). ``--plot FILE.png`` draws the
sensitivities against the errors and the variances (and, with --truth, the estimated against
the retrained f^{\\i}); ``--jobs N`` retrains in N processes, with a progress bar on stderr.

k is the number of outputs: 1 for linear and logistic regression, the number of classes for
softmax. Without ``--out`` (or ``--plot``) nothing is written. Bad input (a missing file or
column, non-numeric or missing features, unusable labels, a bad option or output path) exits
with status 2 and a one-line message; the output files are written only when everything
succeeded (atomically, via a temporary file).
"""
import argparse
import math
import os
import sys
import time
import warnings

import numpy as np

from . import __version__
from .curvature import MLP_ONLY, STRUCTURES
from .mlp import ACTIVATIONS, MLP
from .models import LinearRegression, LogisticRegression, PoissonRegression, SoftmaxRegression
from .mpe import METHODS, Sensitivity
from .safeio import OutputError, check_output_file, write_atomic
from .table import (TableError, as_number, encode_target, listing, read_table, report_rows,
                    scale_warning, write_csv)
from .truth import QUIET_BELOW, loo_refits

MODELS = ("linear", "logistic", "softmax", "poisson", "mlp")
N_SHOWN = 10               # most sensitive rows listed in the summary

EXAMPLE = """\
example:
  mpe-teach sensitivity cancer.csv --target target --model logistic --truth 20 --jobs 2 \\
      --out sens.csv --plot sens.png

  fits logistic regression to cancer.csv, estimates how each example's prediction would change
  if it were left out, retrains (in 2 processes) without the 20 most sensitive examples to check
  the estimates, prints a summary, writes one row per example to sens.csv and draws them in
  sens.png."""


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


def _jobs(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n == 0 or n < -1:
        raise argparse.ArgumentTypeError(f"must be a positive number of processes, or -1 for all cores; got {text!r}")
    return n


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
                    "  row, y, e_*, loo_est_*, sensitivity, (with --truth) loo_true_*, variance, rank\n"
                    "(* = output index 0..k-1; row 0 = the first row after the header);\n"
                    "--plot draws the sensitivities in a PNG file.\n"
                    "Bad input exits with status 2 and writes nothing.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_argument("data", metavar="DATA.csv", help="a CSV file with a header row")
    sub.add_argument("--target", required=True, metavar="COL", help="the column to predict; "
                     "every other numeric column is a feature (features are used as they are: "
                     "standardise them beforehand if their scales differ a lot)")
    sub.add_argument("--model", required=True, choices=MODELS,
                     help="linear regression, logistic regression (2 classes), softmax regression "
                          "(2 or more classes), Poisson regression (counts) or a small MLP")
    sub.add_argument("--delta", type=_delta, default=1.0, metavar="D",
                     help="L2 strength / prior precision δ >= 0 (default 1)")
    sub.add_argument("--noise-var", type=_noise_var, default=None, metavar="S2",
                     help="noise variance σ² of the Gaussian likelihood (linear, or mlp with "
                          "--task regression; default 1)")
    sub.add_argument("--hidden", type=_hidden, default=None, metavar="32,32",
                     help="mlp only: hidden layer sizes (default 32)")
    sub.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None,
                     help="mlp only: the hidden activation (default tanh)")
    sub.add_argument("--task", choices=("classification", "regression", "counts"), default=None,
                     help="mlp only (default classification: a logistic head for 2 classes, "
                          "softmax for more; regression: a linear head; counts: a Poisson head)")
    sub.add_argument("--structure", default="full", metavar="NAME",
                     help=f"curvature structure of the posterior precision S: "
                          f"{', '.join(_structures())} (default full; "
                          f"{', '.join(s for s in MLP_ONLY if s in STRUCTURES) or 'none'} for mlp only)")
    sub.add_argument("--method", choices=METHODS, default="auto",
                     help="mpe: the finite form V(I − ΛV)⁻¹e; influence: the first-order Ve; "
                          "official: Ve with only the diagonal of V (the paper's code); auto "
                          "(default): mpe with the full structure, influence with the others")
    sub.add_argument("--truth", type=_truth, default=None, metavar="K|all",
                     help="retrain without each of the K most sensitive examples (or all) and "
                          "compare the estimated f^{\\i} with the retrained one")
    sub.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                     help="retrain for --truth in N processes (-1: all cores; default 1); the "
                          f"results do not depend on N; a progress bar on stderr from {QUIET_BELOW} "
                          "refits on")
    sub.add_argument("--out", default=None, metavar="OUT.csv",
                     help="write one row per example here; without it nothing is written")
    sub.add_argument("--plot", default=None, metavar="FILE.png",
                     help="draw the sensitivities against the errors and variances (and, with "
                          "--truth, the estimates against retraining) in this PNG file")
    sub.add_argument("--seed", type=_seed, default=0, metavar="S",
                     help="mlp only: seed of the initial weights (default 0)")
    return parser


def _structures():
    """The curvature structures registered in mpe_teach.curvature (read at run time)."""
    return list(STRUCTURES)


# ---- the model -------------------------------------------------------------------------------
def is_regression(args):
    """A numeric target: linear or Poisson regression, or the MLP with --task regression/counts."""
    return args.model in ("linear", "poisson") or (args.model == "mlp" and args.task in ("regression", "counts"))


def check_options(args):
    """Options that do not fit together (checked before the data is read)."""
    mlp_only = {"--hidden": args.hidden, "--activation": args.activation, "--task": args.task}
    if args.model != "mlp":
        for option, value in mlp_only.items():
            if value is not None:
                raise CLIError(f"{option} applies to --model mlp only; got --model {args.model}")
    gaussian = args.model == "linear" or (args.model == "mlp" and args.task == "regression")
    if args.noise_var is not None and not gaussian:
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
    if args.model == "poisson":
        return PoissonRegression(delta=args.delta), f"Poisson regression (delta={args.delta:g})"
    head = ("poisson" if args.task == "counts" else "linear" if regression
            else "logistic" if len(np.unique(y)) == 2 else "softmax")
    hidden = args.hidden or (32,)
    activation = args.activation or "tanh"
    return MLP(hidden=hidden, activation=activation, head=head, delta=args.delta,
               noise_var=noise_var, seed=args.seed), \
        (f"MLP (hidden={','.join(map(str, hidden))}, {activation}, {head} head, "
         f"delta={args.delta:g}, seed={args.seed})")


# ---- the command -----------------------------------------------------------------------------
def sensitivity(args):
    check_options(args)
    out = None if args.out is None else check_output_file(args.out, inputs=[args.data], what="--out")
    plot = None if args.plot is None else check_output_file(args.plot, inputs=[args.data], what="--plot")
    if out is not None and out == plot:
        raise CLIError(f"--plot {args.plot} and --out {args.out} name the same file")
    names, X, y_text, skipped = read_table(args.data, args.target)
    regression = is_regression(args)
    y = encode_target(y_text, args.target, args.model, regression)
    model, description = make_model(args, y, regression)
    notes = [f"note: ignoring non-numeric column(s) {listing(skipped)}"] if skipped else []
    notes += [w for w in [scale_warning(names, X)] if w]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            model.fit(X, y)
        except ValueError as exc:
            raise CLIError(f"cannot fit --model {args.model} to column {args.target!r}: {exc}") from None
        fit_time = time.perf_counter() - start
        if not model.converged_ and model.is_separated():
            raise CLIError(f"the classes of column {args.target!r} are perfectly separated and "
                           "--delta is 0, so the loss has no minimum: use --delta > 0")
        try:
            sens = Sensitivity(model, args.structure)
            report = sens.report(method=args.method)
            loo = report[[c for c in report.columns if c.startswith("loo_output")]].to_numpy(dtype=float)
            dev = report["sensitivity"].to_numpy(dtype=float)
            loo_loss = sens.loo_loss(args.method)
        except ValueError as exc:
            raise CLIError(f"cannot compute sensitivities: {exc}") from None
        undefined = np.flatnonzero(~np.all(np.isfinite(loo), axis=1))
        if undefined.size:
            raise CLIError(f"removing row {undefined[0]} ({undefined.size} row(s) in all) leaves the "
                           f"model undetermined (leverage 1 with --delta {args.delta:g}): use --delta > 0")
        n = len(y)
        order = np.argsort(-dev, kind="stable")
        truth_rows = np.array([], dtype=int)
        if args.truth is not None:
            truth_rows = np.arange(n) if args.truth == "all" else order[:min(args.truth, n)]
        start = time.perf_counter()
        loo_true = None
        if len(truth_rows):
            loo_true, _ = loo_refits(model, truth_rows, sensitivity=sens, n_jobs=args.jobs)
        truth_time = time.perf_counter() - start
        png = None
        if plot is not None:           # drawn before anything is written: a failure writes nothing
            png = _plot(args, description, sens, report, truth_rows, loo_true)
    for note in notes:                      # only now: a failed run prints one line only
        print(note, file=sys.stderr)
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"warning: {message}", file=sys.stderr)

    lines = [f"mpe-teach sensitivity: {os.path.basename(args.data)}, target {args.target!r}",
             f"  model       {description}; structure {args.structure}, method "
             f"{args.method}{' (' + sens.resolve_method('auto') + ')' if args.method == 'auto' else ''}",
             f"  data        n = {n} examples, {X.shape[1]} features, P = {model.n_params_} parameters",
             f"  fit time    {fit_time:.3f} s" + ("" if model.converged_ else
                                                   f" (NOT converged: relative gradient "
                                                   f"{model.grad_norm_ / model.grad_scale_:.1e})"),
             *_loss_lines(model, loo_loss, loo_true if len(truth_rows) == n else None),
             f"  the {min(N_SHOWN, n)} most sensitive rows (row, y, sensitivity):",
             *[f"    {i:6d}  {_short(y_text[i]):>12}  {dev[i]:.4g}" for i in order[:N_SHOWN]]]
    if loo_true is not None:
        lines += _truth_lines(model, loo, truth_rows, loo_true, truth_time)
    if out is None:
        lines.append(f"  output      {'no CSV' if png is not None else 'nothing'} written "
                     "(pass --out OUT.csv to save one row per example)")
    else:
        write_csv(out, report_rows(y_text, report, truth_rows, loo_true), inputs=[args.data])
        lines.append(f"  output      {n} rows written to {args.out}")
    if png is not None:
        write_atomic(plot, lambda f: f.write(png), binary=True, inputs=[args.data], what="--plot")
        lines.append(f"  plot        written to {args.plot}")
    print("\n".join(lines))
    return 0


def _plot(args, description, sens, report, truth_rows, loo_true):
    """The PNG of ``--plot`` (bytes): the report's sensitivities against |error| (‖e_i‖ for
    k > 1) and variance, and with --truth the estimated against the retrained f^{\\i}."""
    from . import report_plot              # matplotlib only when a plot is asked for

    errors = sens.errors_
    k = errors.shape[1]
    est = report[[c for c in report.columns if c.startswith("loo_output")]].to_numpy(dtype=float)
    fig = report_plot.sensitivity_figure(
        report["sensitivity"].to_numpy(), np.linalg.norm(errors, axis=1), report["variance"].to_numpy(),
        labels=report.index.to_numpy(),
        loo_est=est[truth_rows] if loo_true is not None else None, loo_true=loo_true,
        truth_labels=truth_rows,
        subtitle=f"{os.path.basename(args.data)}, target {args.target!r}: {description}, "
                 f"n = {len(report)} rows",
        error_label="prediction error $|e_i|$" if k == 1 else r"prediction error $\|e_i\|$",
        variance_label="prediction variance $v_i$" if k == 1 else r"prediction variance tr $V_i$")
    return report_plot.png_bytes(fig)


def _loss_lines(model, loo_loss, loo_true=None):
    """The estimated LOO loss (§8) and, when every example was retrained, the true one."""
    lik = model.likelihood_
    lines = [f"  LOO loss    {loo_loss:.6g} (estimated; {lik.loo_loss_name} of f^{{\\i}})"]
    if loo_true is not None and np.all(np.isfinite(loo_true)):
        lines.append(f"              {lik.loo_loss(model.y_, loo_true):.6g} (by retraining n = {len(loo_true)} models)")
    return lines


def _truth_lines(model, loo, rows, loo_true, seconds):
    """Estimated against retrained f^{\\i} on the retrained rows: Pearson r and max |error|;
    rows whose retraining did not converge are named and left out of the comparison."""
    ok = np.all(np.isfinite(loo_true), axis=1)
    failed = [f"  not converged: retraining without row(s) {listing([str(i) for i in rows[~ok]])} did "
              "not converge (no minimum without them? try --delta > 0); their truth is left empty"] \
        if not ok.all() else []
    rows, loo_true, loo = rows[ok], loo_true[ok], loo
    if len(rows) == 0:
        return failed
    est = loo[rows]
    r = _pearson(est.ravel(), loo_true.ravel())
    change = np.abs(loo_true - model.train_outputs()[rows]).max()
    n, m = model.X_.shape[0], len(rows)
    which = (f"each of the {n} rows" if m == n else "the most sensitive row" if m == 1
             else f"each of the {m} most sensitive rows")
    return failed + [
            f"  truth       retrained without {which} in {seconds:.2f} s "
            f"(warm-started at the MPE's θ* + Δθ, relative gradient tolerance {model.tol:g})",
            f"  Pearson r   {'n/a (needs 2+ varying values)' if np.isnan(r) else f'{r:.6f}'}"
            "  (estimated vs retrained f^{\\i})",
            f"  max |error| {np.abs(est - loo_true).max():.3g}  (largest true change of f: {change:.3g})"]


def _short(label):
    """A target cell for the summary: numbers to 6 significant digits, text to 12 characters."""
    v = as_number(label)
    return f"{v:.6g}" if v is not None else (label if len(label) <= 12 else label[:11] + "…")


def _pearson(a, b):
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


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
    except (CLIError, TableError, OutputError) as exc:
        message = " ".join(str(exc).split())
        print(f"{getattr(exc, 'prog', None) or prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing written", file=sys.stderr)
        return 130
