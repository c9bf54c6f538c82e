"""Ground truth by retraining (mpe-math §9): many refits, in parallel through joblib.

Every refit is independent and deterministic, so the results are identical for any ``n_jobs``
(1 = here, -1 = all cores) and any joblib backend — including a Dask or Ray cluster:

    from joblib import parallel_config
    with parallel_config(backend="dask"):          # after dask.distributed.Client(...)
        outputs, ok = loo_refits(model, rows, n_jobs=-1)

A refit that fails (a singular precision) or does not converge is reported as not converged
(``ok`` False, outputs NaN): never as the truth.
"""
import sys
import warnings

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from tqdm.std import tqdm  # a text bar on stderr, readable in a saved notebook

from .blas import single_threaded_blas
from .models import ConvergenceWarning
from .validation import check_indices

QUIET_BELOW = 6            # no progress bar for fewer refits than this
CHUNKS_PER_WORKER = 4      # in parallel: refits go out in about this many chunks per worker …
MAX_CHUNK = 16             # … of at most this many refits (a progress bar that moves)


def _one(model, weights, warm_start, read):
    """read(refit) for one weight vector, or None when the refit fails or does not converge."""
    with single_threaded_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            new = model.refit(weights, warm_start=warm_start)
        except ValueError:
            return None
    return read(new) if new.converged_ else None


def _chunk(model, tasks):
    """[_one(model, w, s, r) for each task (w, s, r)]: one pickle of the model per chunk."""
    return [_one(model, w, s, r) for w, s, r in tasks]


def refits(model, weight_sets, read, warm_starts=None, n_jobs=1, progress=True, desc="refits"):
    """[read(model.refit(w, warm_start=s)) for w, s in zip(weight_sets, warm_starts)], each
    None where that refit failed or did not converge; in parallel over ``n_jobs`` workers.
    ``read`` is one function, or a list with one per refit (it must pickle: no lambdas).

    In parallel the refits go out in chunks (about CHUNKS_PER_WORKER per worker, of at most
    MAX_CHUNK refits each), so that the model — its data included — is pickled once per chunk
    rather than once per refit. Chunk j holds refits j, j + C, j + 2C, … (C chunks), so that
    when the refits come sorted (say, most sensitive first, the slowest to converge) every chunk
    gets its share of slow ones. Each refit is computed exactly as it would be alone."""
    m = len(weight_sets)
    starts = [None] * m if warm_starts is None else list(warm_starts)
    reads = read if isinstance(read, list) else [read] * m
    tasks = list(zip(weight_sets, starts, reads))
    bar = tqdm(total=m, desc=desc, unit="refit", file=sys.stderr,
               disable=not progress or m < QUIET_BELOW)
    with bar:
        workers = effective_n_jobs(n_jobs)
        if workers == 1 or m <= 1:
            out = []
            for task in tasks:
                out.append(_one(model, *task))
                bar.update(1)
            return out
        n_chunks = min(m, max(workers * CHUNKS_PER_WORKER, -(-m // MAX_CHUNK)))
        jobs = (delayed(_chunk)(model, tasks[j::n_chunks]) for j in range(n_chunks))
        out = [None] * m
        for j, results in enumerate(Parallel(n_jobs=n_jobs, return_as="generator")(jobs)):
            out[j::n_chunks] = results
            bar.update(len(results))
        return out


def loo_refits(model, rows, sensitivity=None, n_jobs=1, progress=True):
    """f_i^{\\i} (m, k) by retraining without each example i in ``rows``, and ok (m,) — False
    where that refit failed or did not converge (its outputs are NaN). With a ``Sensitivity``
    a convex model's refits start from the MPE's prediction θ* + Δθ_i instead of θ* (fewer
    iterations); the MLP's start at θ*, the mode the MPE describes (see ``Sensitivity.refit``)."""
    if model.layered:
        sensitivity = None
    rows = check_indices(rows, model.X_.shape[0], name="rows") if len(rows) else np.array([], dtype=int)
    # the MPE's θ* + Δθ_i for every row from one all-n solve (not one solve per row)
    d_theta = None if sensitivity is None or not len(rows) else sensitivity.param_changes(0.0)[rows]
    weight_sets, starts = [], []
    for a, i in enumerate(rows):
        w = model.weights_.copy()
        w[i] = 0.0
        weight_sets.append(w)
        starts.append(None if d_theta is None else model.theta_ + d_theta[a])
    outputs = refits(model, weight_sets, [RowOutput(i) for i in rows], starts, n_jobs, progress,
                     desc="retraining without each example")
    ok = np.array([o is not None for o in outputs], dtype=bool)
    values = np.full((len(rows), model.n_outputs_), np.nan)
    for a, o in enumerate(outputs):
        if o is not None:
            values[a] = o
    return values, ok


class RowOutput:
    """read(refit) = the refit's output f_i (k,) on training example i (a class, so it pickles)."""

    def __init__(self, i):
        self.i = int(i)

    def __call__(self, model):
        return model.outputs(model.theta_, model.X_[self.i:self.i + 1])[0]
