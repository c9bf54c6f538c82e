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
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from .blas import single_threaded_blas
from .models import ConvergenceWarning
from .validation import check_indices

QUIET_BELOW = 6            # no progress bar for fewer refits than this


def _one(model, weights, warm_start, read):
    """read(refit) for one weight vector, or None when the refit fails or does not converge."""
    with single_threaded_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            new = model.refit(weights, warm_start=warm_start)
        except ValueError:
            return None
    return read(new) if new.converged_ else None


def refits(model, weight_sets, read, warm_starts=None, n_jobs=1, progress=True, desc="refits"):
    """[read(model.refit(w, warm_start=s)) for w, s in zip(weight_sets, warm_starts)], each
    None where that refit failed or did not converge; in parallel over ``n_jobs`` workers.
    ``read`` is one function, or a list with one per refit (it must pickle: no lambdas)."""
    starts = [None] * len(weight_sets) if warm_starts is None else list(warm_starts)
    reads = read if isinstance(read, list) else [read] * len(weight_sets)
    jobs = (delayed(_one)(model, w, s, r) for w, s, r in zip(weight_sets, starts, reads))
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    return list(tqdm(results, total=len(weight_sets), desc=desc, unit="refit", file=sys.stderr,
                     disable=not progress or len(weight_sets) < QUIET_BELOW, leave=False))


def loo_refits(model, rows, sensitivity=None, n_jobs=1, progress=True):
    """f_i^{\\i} (m, k) by retraining without each example i in ``rows``, and ok (m,) — False
    where that refit failed or did not converge (its outputs are NaN). With a ``Sensitivity``
    each refit starts from the MPE's prediction θ* + Δθ_i instead of θ* (fewer iterations)."""
    rows = check_indices(rows, model.X_.shape[0], name="rows") if len(rows) else np.array([], dtype=int)
    weight_sets, starts = [], []
    for i in rows:
        w = model.weights_.copy()
        w[i] = 0.0
        weight_sets.append(w)
        starts.append(None if sensitivity is None else model.theta_ + sensitivity.param_change(int(i), 0.0))
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
