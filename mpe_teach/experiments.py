"""The paper's training experiments, small enough for a laptop CPU (mpe-math §7–§9).

Every function returns plain data (dicts of arrays); ``training_plots`` draws it. The default
problem is the scikit-learn digits (8x8 images), a stratified subsample of ``n_train`` training
images (default 500 of the 1257, to keep the full-GGN checkpoints fast), and an MLP 64-16-10.

1. ``loo_vs_test``          LOO-CV estimate vs test NLL over epochs, per optimiser (Fig. 1b/5)
2. ``deviations_vs_refit``  estimated vs true deviations per curvature structure (Fig. 2)
3. ``delta_sweep``          MPE LOO-CV vs test NLL over a log grid of δ (Fig. 4)
4. ``leave_one_class_out``  per-class MPE estimate vs test NLL after retraining without it (Fig. 3a)
5. ``evolving_sensitivities`` sorted sensitivities over epochs, most/least sensitive images (Fig. 3b)
"""
import time
import warnings

import numpy as np
from scipy.stats import pearsonr, spearmanr
from tqdm.auto import tqdm

from .datasets import digits
from .mlp import MLP
from .mpe import PerturbationWarning, Sensitivity
from .training import train

DEFAULT_OPTIONS = {"adam": {"lr": 1e-2}, "rmsprop": {"lr": 1e-3}, "von": {"lr": 0.05},
                   "sgd": {"lr": 0.1, "momentum": 0.9}, "online_newton_diag": {"lr": 0.02},
                   "online_newton": {"lr": 0.5}, "newton": {}}


def digits_problem(n_train=500, hidden=(16,), delta=1.0, seed=0):
    """(data, model): the digits subsample and an unfitted MLP for it."""
    return digits(n_train=n_train, seed=seed), MLP(hidden=hidden, delta=delta, seed=seed)


def _train(model, data, optimizer, epochs, checkpoints, seed=0, weights=None, options=None):
    options = DEFAULT_OPTIONS.get(optimizer, {}) if options is None else options
    return train(model, data.X_train, data.y_train, optimizer, epochs=epochs, X_test=data.X_test,
                 y_test=data.y_test, checkpoints=checkpoints, seed=seed, weights=weights,
                 progress=False, **options)


# ---- 1 -----------------------------------------------------------------------------------------
def loo_vs_test(optimizers=("adam", "von", "sgd"), epochs=30, checkpoints=(1, 2, 5, 10, 20, 30),
                n_train=500, hidden=(16,), delta=1.0, seed=0, options=None):
    """For each optimiser: the MPE LOO-CV estimate (from its own precision) and the test NLL at
    each checkpoint. Returns {name: {"epoch", "loo_nll", "test_nll", "train_nll",
    "test_accuracy", "history"}}; ``options`` maps a name to its optimiser options."""
    data, model = digits_problem(n_train, hidden, delta, seed)
    out = {}
    for name in tqdm(optimizers, desc="optimisers"):
        opts = (options or {}).get(name)
        _, hist = _train(model, data, name, epochs, checkpoints, seed, options=opts)
        out[name] = {key: hist[key] for key in ("epoch", "loo_nll", "test_nll", "train_nll", "test_accuracy")}
        out[name]["history"] = hist
    return out


# ---- 2 -----------------------------------------------------------------------------------------
def deviations_vs_refit(structures=("full", "diag", "kfac", "last_layer"), n_refits=20,
                        n_train=300, hidden=(16,), delta=1.0, seed=0):
    """Estimated deviations Σ_c|p_c(f_i + Δf_i) − p_ic| against the true ones from ``refit`` with
    w_i = 0 (warm-started, max|∇L| ≤ the MLP's tol = 1e-6), for ``n_refits`` examples spread
    evenly over the full-GGN ranking (so the comparison covers small and large deviations).
    Returns {"index", "true", "estimated": {structure: (m,)}, "pearson_r": {..},
    "seconds": {..} (time to build the precision and all n deviations), "refit_tol"}."""
    data, model = digits_problem(n_train, hidden, delta, seed)
    model.fit(data.X_train, data.y_train)
    estimated, seconds = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerturbationWarning)
        for s in structures:
            start = time.perf_counter()
            estimated[s] = Sensitivity(model, s).deviations()
            seconds[s] = time.perf_counter() - start
    order = np.argsort(estimated.get("full", next(iter(estimated.values()))))
    idx = order[np.linspace(0, len(order) - 1, n_refits).round().astype(int)]
    p = model.predict_proba(data.X_train)
    true = []
    for i in tqdm(idx, desc="refits without one example"):
        w = model.weights_.copy()
        w[i] = 0.0
        true.append(np.abs(model.refit(w).predict_proba(data.X_train[i:i + 1])[0] - p[i]).sum())
    true = np.array(true)
    est = {s: v[idx] for s, v in estimated.items()}
    return {"index": idx, "true": true, "estimated": est,
            "pearson_r": {s: float(pearsonr(v, true)[0]) for s, v in est.items()},
            "seconds": seconds, "refit_tol": model.tol}


# ---- 3 -----------------------------------------------------------------------------------------
def delta_sweep(deltas=tuple(10.0 ** np.arange(-2, 1.01, 0.5)), optimizer="sgd", epochs=30,
                n_train=500, hidden=(16,), seed=0, options=None):
    """Train one model per δ; the MPE LOO-CV estimate and the test NLL at the end.
    Returns {"delta", "loo_nll", "test_nll", "best_by_loo", "best_by_test", "grid_steps_apart"}."""
    data = digits(n_train=n_train, seed=seed)
    loo, test = [], []
    for delta in tqdm(deltas, desc="delta grid"):
        _, hist = _train(MLP(hidden=hidden, delta=delta, seed=seed), data, optimizer, epochs,
                         [epochs], seed, options=options)
        loo.append(hist[-1]["loo_nll"])
        test.append(hist[-1]["test_nll"])
    loo, test = np.array(loo), np.array(test)
    a, b = int(np.argmin(loo)), int(np.argmin(test))
    return {"delta": np.array(deltas), "loo_nll": loo, "test_nll": test,
            "best_by_loo": float(deltas[a]), "best_by_test": float(deltas[b]),
            "grid_steps_apart": abs(a - b)}


# ---- 4 -----------------------------------------------------------------------------------------
def leave_one_class_out(optimizer="sgd", epochs=30, n_train=500, hidden=(16,), delta=1.0, seed=0,
                        options=None):
    """Per class c: the MPE estimate (1/n_c) Σ_{i∈c} ℓ(y_i, f_i + Δf_i) from one training run, and
    the test NLL on class c of a model retrained from the same start without class c (w_i = 0).
    Returns {"classes", "estimated", "retrained_test_nll", "spearman"}."""
    data, model = digits_problem(n_train, hidden, delta, seed)
    _, hist = _train(model, data, optimizer, epochs, [epochs], seed, options=options)
    loo = hist[-1]["loo_nlls"]
    classes = np.unique(data.y_train)
    est, truth = [], []
    for c in tqdm(classes, desc="retraining without each class"):
        w = (data.y_train != c).astype(float)
        m, _ = _train(model, data, optimizer, epochs, [epochs], seed, weights=w, options=options)
        on_c = data.y_test == c
        truth.append(float(np.mean(m.nll(data.X_test[on_c], data.y_test[on_c]))))
        est.append(float(np.mean(loo[data.y_train == c])))
    est, truth = np.array(est), np.array(truth)
    return {"classes": classes, "estimated": est, "retrained_test_nll": truth,
            "spearman": float(spearmanr(est, truth)[0])}


# ---- 5 -----------------------------------------------------------------------------------------
def evolving_sensitivities(history=None, data=None, optimizer="adam", epochs=30,
                           checkpoints=(1, 5, 30), n_per_class=3, n_train=500, hidden=(16,),
                           delta=1.0, seed=0):
    """Sorted per-example sensitivities at each checkpoint, and for each class the indices and
    8x8 images of the ``n_per_class`` most and least sensitive training images at the end.
    Pass a ``history`` (and its ``data``) from ``train`` to reuse a run; otherwise one is trained.
    Returns {"epoch", "sorted" (n_checkpoints, n), "fraction_small" (share of examples below 5%
    of the largest sensitivity, per checkpoint), "most", "least" (n_classes, n_per_class),
    "most_images", "least_images" (n_classes, n_per_class, 8, 8), "classes"}."""
    if history is None:
        data, model = digits_problem(n_train, hidden, delta, seed)
        _, history = _train(model, data, optimizer, epochs, list(checkpoints), seed)
    elif data is None:
        raise ValueError("pass the data the history was trained on together with the history")
    sens = np.stack([r["sensitivities"] for r in history])
    final = sens[-1]
    classes = np.unique(data.y_train)
    most, least = [], []
    for c in classes:
        members = np.flatnonzero(data.y_train == c)
        ranked = members[np.argsort(final[members])]
        least.append(ranked[:n_per_class])
        most.append(ranked[::-1][:n_per_class])
    most, least = np.array(most), np.array(least)
    images = data.X_train.reshape(-1, 8, 8)
    return {"epoch": np.array([r["epoch"] for r in history]),
            "sorted": -np.sort(-sens, axis=1),
            "fraction_small": (sens < 0.05 * sens.max(axis=1, keepdims=True)).mean(axis=1),
            "most": most, "least": least, "most_images": images[most],
            "least_images": images[least], "classes": classes}
