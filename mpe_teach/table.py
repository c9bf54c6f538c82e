"""Reading the user's CSV and writing the per-row report (the CLI's tables).

``read_table`` turns a CSV with a header into feature names, a float matrix and the target
cells; ``encode_target`` reads the target as numbers (regression, counts) or class labels;
``report_rows`` lays out one output row per example, and ``write_csv`` writes it through
``safeio`` (a regular file or a new path only, atomically). Bad input raises ``TableError``
with one line naming the file, column and row.
"""
import csv
import math

import numpy as np

from .safeio import write_atomic
from .validation import MAX_ABS

SCALE_RATIO = 1e3          # warn when feature standard deviations differ by more than this


class TableError(ValueError):
    """The CSV cannot be used; the message is one line naming the file, column and row."""


def read_table(path, target):
    """Read a CSV with a header.

    Returns the feature names, X (n, d), the target cells (n strings) and the names of the
    columns ignored because not one of their cells is a number."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [(line, row) for row, line in _rows(csv.reader(f)) if row]
    except FileNotFoundError:
        raise TableError(f"data file {path} not found") from None
    except IsADirectoryError:
        raise TableError(f"data file {path} is a directory, not a CSV file") from None
    except PermissionError:
        raise TableError(f"data file {path} cannot be read (permission denied)") from None
    except UnicodeDecodeError:
        raise TableError(f"data file {path} is not a readable CSV (not UTF-8 text)") from None
    except csv.Error as exc:
        raise TableError(f"data file {path} is not a readable CSV ({exc})") from None
    if not rows:
        raise TableError(f"data file {path} is empty: expected a header row and data rows")
    header = [name.strip() for name in rows[0][1]]
    body = rows[1:]
    if not body:
        raise TableError(f"data file {path} has a header but no data rows")
    seen = set()
    for name in header:
        if name in seen:
            raise TableError(f"data file {path}: column name {name!r} appears more than once")
        seen.add(name)
    if target not in header:
        raise TableError(f"column {target!r} (--target) not found in {path}; its columns are "
                       f"{listing(header)}")
    for r, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise TableError(f"data file {path}: row {r} (line {line}) has {len(row)} fields; "
                           f"the header has {len(header)}")
    t = header.index(target)
    names, columns, skipped = [], [], []
    for j, name in enumerate(header):
        if j == t:
            continue
        values = [as_number(row[j]) for _, row in body]
        if all(v is None for v in values):
            skipped.append(name)
            continue
        for r, v in enumerate(values):
            if v is None or not math.isfinite(v) or abs(v) > MAX_ABS:
                cell = body[r][1][j]
                what = ("is empty" if not cell.strip() else f"is {cell!r}, beyond ±{MAX_ABS:.0e} (its "
                        "square overflows): rescale the column" if v is not None and math.isfinite(v)
                        else f"is {cell!r}, not a finite number")
                raise TableError(f"feature column {name!r}: row {r} (line {body[r][0]}) {what}; "
                               "features must be numeric with no missing values")
        names.append(name)
        columns.append(values)
    if not names:
        raise TableError(f"data file {path} has no numeric feature column besides the target {target!r}")
    y = [row[t].strip() for _, row in body]
    return names, np.array(columns, dtype=float).T, y, skipped


def _rows(reader):
    """(row, line number where it ends) for every row of a csv reader."""
    for row in reader:
        yield row, reader.line_num


def as_number(text):
    try:
        return float(text)
    except ValueError:
        return None


def listing(names, limit=8):
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def encode_target(y_text, column, model, regression):
    """Targets for the model: floats for regression; for classification numbers when every label
    is one ("1" and "1.0" are one class), the label strings otherwise. Refuses labels the model
    cannot use: logistic needs exactly 2 classes, the others at least 2, and more than 2 classes
    that outnumber half the rows look like a continuous target."""
    numbers = [as_number(v) for v in y_text]
    for r, (v, text) in enumerate(zip(numbers, y_text)):
        if not text:
            raise TableError(f"target column {column!r}: row {r} is empty")
        if v is not None and math.isnan(v):
            raise TableError(f"target column {column!r}: row {r} is {text!r}; targets must not be missing")
    if regression:
        for r, (v, text) in enumerate(zip(numbers, y_text)):
            if v is None or not math.isfinite(v):
                raise TableError(f"target column {column!r} must be numeric for regression; "
                                 f"row {r} is {text!r}")
            if abs(v) > MAX_ABS:
                raise TableError(f"target column {column!r}: row {r} is {text!r}, beyond ±{MAX_ABS:.0e} "
                                 "(its square overflows): rescale the target")
        return np.array(numbers, dtype=float)
    y = np.array(numbers, dtype=float) if all(v is not None for v in numbers) else np.array(y_text)
    n, k = len(y), len(np.unique(y))
    first = {}
    for text, value in zip(y_text, y.tolist()):
        first.setdefault(value, text)
    values = listing(list(first.values()), limit=5)
    if model == "logistic" and k != 2:
        raise TableError(f"target column {column!r} has {k} distinct value(s) ({values}); "
                       "--model logistic needs exactly 2 classes")
    if k < 2:
        raise TableError(f"target column {column!r} has only one class ({values}); "
                       f"--model {model} needs at least 2")
    if k > 2 and k > n / 2:
        raise TableError(f"target column {column!r} has {k} distinct values in {n} rows: these are "
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


def report_rows(y_text, report, truth_rows=(), loo_true=None):
    """The output rows: header, then one row per example (floats as round-trip repr).

    ``report`` is ``Sensitivity.report()`` (a DataFrame, one row per example in data order),
    written under the CLI's column names: row, y (as read), e_* (its error*), loo_est_* (its
    loo_output*), sensitivity, then loo_true_* (with --truth) and, last, variance and rank.
    Rows whose retraining did not converge (NaN in loo_true) are left empty there."""
    errors = [c for c in report.columns if c == "error" or c.startswith("error_")]
    loos = [c for c in report.columns if c == "loo_output" or c.startswith("loo_output_")]
    k = len(errors)
    header = (["row", "y"] + [f"e_{c}" for c in range(k)] + [f"loo_est_{c}" for c in range(k)]
              + ["sensitivity"])
    true_of = {}
    if loo_true is not None:
        header += [f"loo_true_{c}" for c in range(k)]
        true_of = {int(i): loo_true[a] for a, i in enumerate(truth_rows) if np.all(np.isfinite(loo_true[a]))}
    header += ["variance", "rank"]
    floats = report[errors + loos + ["sensitivity"]].to_numpy(dtype=float).tolist()
    variance = report["variance"].to_numpy(dtype=float).tolist()
    rank = report["rank"].to_numpy().tolist()
    rows = [header]
    for i in range(len(y_text)):
        row = [str(i), y_text[i], *map(repr, floats[i])]
        if loo_true is not None:
            row += list(map(repr, true_of[i].tolist())) if i in true_of else [""] * k
        rows.append(row + [repr(variance[i]), str(rank[i])])
    return rows


def write_csv(path, rows, inputs=()):
    """Write rows to path atomically through safeio (refuses devices, FIFOs, read-only files)."""
    write_atomic(path, lambda f: csv.writer(f).writerows(rows), inputs=inputs, what="--out")
