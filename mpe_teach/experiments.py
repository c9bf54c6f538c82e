"""The paper's training experiments, small enough for a laptop CPU (mpe-math §7–§9).

Every function returns plain data (dicts of arrays); ``training_plots`` draws it. The default
problem is the scikit-learn digits (8x8 images), a stratified subsample of ``n_train`` training
images (default 500 of the 1257, to keep the full-GGN checkpoints fast), and an MLP 64-16-10 with
δ = 10^-0.5 ≈ 0.32: the value the MPE LOO-CV of experiment 3 picks on this problem.

The test NLL is itself an estimate: its standard error over the 540 test images is reported next
to it (``test_nll_se``), and on this problem it is 15–25% of the NLL — the scale against which a
LOO-CV estimate "within 10% of the test NLL" should be read.

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

from .blas import single_threaded_blas
from .datasets import digits
from .mlp import MLP
from .mpe import PerturbationWarning, Sensitivity
from .training import train

DELTA = 10 ** -0.5
# Learning rates tried on this problem (δ = DELTA, batch 32): SGD and VON with a cosine decay end
# near a stationary point of L, which the MPE assumes; Adam ends closer to it with a constant rate.
DEFAULT_OPTIONS = {"adam": {"lr": 1e-2}, "rmsprop": {"lr": 1e-3},
                   "von": {"lr": 0.05, "lr_schedule": "cosine"},
                   "sgd": {"lr": 0.3, "momentum": 0.9, "lr_schedule": "cosine"},
                   "online_newton_diag": {"lr": 0.02}, "online_newton": {"lr": 0.5}, "newton": {}}


def _test_nll(model, data):
    """Mean test NLL and its standard error over the test images."""
    nll = model.nll(data.X_test, data.y_test)
    return float(np.mean(nll)), float(np.std(nll, ddof=1) / np.sqrt(len(nll)))


def digits_problem(n_train=500, hidden=(16,), delta=DELTA, seed=0):
    """(data, model): the digits subsample and an unfitted MLP for it."""
    return digits(n_train=n_train, seed=seed), MLP(hidden=hidden, delta=delta, seed=seed)


def _train(model, data, optimizer, epochs, checkpoints, seed=0, weights=None, options=None):
    options = DEFAULT_OPTIONS.get(optimizer, {}) if options is None else options
    return train(model, data.X_train, data.y_train, optimizer, epochs=epochs, X_test=data.X_test,
                 y_test=data.y_test, checkpoints=checkpoints, seed=seed, weights=weights,
                 progress=False, **options)


# ---- 1 -----------------------------------------------------------------------------------------
def loo_vs_test(optimizers=("adam", "von", "sgd"), epochs=40,
                checkpoints=(1, 2, 5, 10, 20, 30, 40), n_train=500, hidden=(16,), delta=DELTA,
                seed=0, options=None):
    """For each optimiser: the MPE LOO-CV estimate (from its own precision) and the test NLL at
    each checkpoint. ``options`` maps a name to its optimiser options (default DEFAULT_OPTIONS).

    Returns {name: {"epoch", "loo_nll", "test_nll", "train_nll", "test_accuracy", "history",
    "test_nll_se" (standard error of the final test NLL), "final_loo_full_ggn",
    "final_loo_diag_ggn"}}. The last two are the LOO-CV estimate at the final iterate with the
    full GGN and with its diagonal instead of the optimiser's precision: they separate the error
    of the curvature structure (diagonal vs full) from that of the optimiser's estimate of it."""
    data, model = digits_problem(n_train, hidden, delta, seed)
    out = {}
    for name in tqdm(optimizers, desc="optimisers"):
        opts = (options or {}).get(name)
        trained, hist = _train(model, data, name, epochs, checkpoints, seed, options=opts)
        out[name] = {key: hist[key] for key in ("epoch", "loo_nll", "test_nll", "train_nll", "test_accuracy")}
        out[name]["history"] = hist
        out[name]["test_nll_se"] = _test_nll(trained, data)[1]
        with single_threaded_blas(), warnings.catch_warnings():
            warnings.simplefilter("ignore", PerturbationWarning)
            for s in ("full", "diag"):
                out[name][f"final_loo_{s}_ggn"] = Sensitivity(trained, s).loo_loss()
    return out


# ---- 2 -----------------------------------------------------------------------------------------
def deviations_vs_refit(structures=("full", "diag", "kfac", "last_layer"), n_refits=20,
                        n_train=300, hidden=(16,), delta=DELTA, seed=0):
    """Estimated deviations Σ_c|p_c(f_i + Δf_i) − p_ic| against the true ones from ``refit`` with
    w_i = 0 (warm-started, max|∇L| ≤ the MLP's tol = 1e-6), for ``n_refits`` examples spread
    evenly over the full-GGN ranking (so the comparison covers small and large deviations).
    Returns {"index", "true", "estimated": {structure: (m,)}, "pearson_r": {..},
    "seconds": {..} (time to build the precision and all n deviations), "refit_tol"}."""
    data, model = digits_problem(n_train, hidden, delta, seed)
    model.fit(data.X_train, data.y_train)
    estimated, seconds = {}, {}
    with single_threaded_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore", PerturbationWarning)
        for s in structures:
            start = time.perf_counter()
            estimated[s] = Sensitivity(model, s).sensitivities()
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
def delta_sweep(deltas=tuple(10.0 ** np.arange(-2, 1.01, 0.5)), optimizer=None, epochs=30,
                n_train=500, hidden=(16,), seed=0, options=None):
    """One model per δ; the MPE LOO-CV estimate (full GGN, finite form) and the test NLL.

    By default each model is fitted to convergence (``MLP.fit``: L-BFGS then Newton-CG to
    max|∇L| ≤ 1e-6, from the same θ_0 for every δ, so no fit depends on the order of the grid):
    the MPE assumes a stationary point. With ``optimizer`` (e.g. "sgd") each model is instead
    trained for ``epochs`` with it and read off with that optimiser's own precision.
    Returns {"delta", "loo_nll", "test_nll", "test_nll_se", "best_by_loo", "best_by_test",
    "grid_steps_apart", "seconds"}."""
    data = digits(n_train=n_train, seed=seed)
    loo, test, se = [], [], []
    start = time.perf_counter()
    for delta in tqdm(deltas, desc="delta grid"):
        model = MLP(hidden=hidden, delta=delta, seed=seed)
        if optimizer is None:
            model.fit(data.X_train, data.y_train)
            with single_threaded_blas(), warnings.catch_warnings():
                warnings.simplefilter("ignore", PerturbationWarning)
                loo.append(Sensitivity(model, "full").loo_loss())
        else:
            model, hist = _train(model, data, optimizer, epochs, [epochs], seed, options=options)
            loo.append(hist[-1]["loo_nll"])
        t, s = _test_nll(model, data)
        test.append(t)
        se.append(s)
    loo, test = np.array(loo), np.array(test)
    a, b = int(np.argmin(loo)), int(np.argmin(test))
    return {"delta": np.array(deltas), "loo_nll": loo, "test_nll": test, "test_nll_se": np.array(se),
            "best_by_loo": float(deltas[a]), "best_by_test": float(deltas[b]),
            "grid_steps_apart": abs(a - b), "seconds": time.perf_counter() - start}


# ---- 4 -----------------------------------------------------------------------------------------
def group_removal_nll(sens, members, X_members, y_members):
    """The MPE estimate of the mean NLL of a group's own examples after removing the whole group
    (mpe-math §4 groups): {"estimated": finite form (1/m) Σ ℓ(y_i, f_i + Δf_i) with Δf from
    ``sens.pred_change(members, 0.0)``, "estimated_first_order": the same with the first-order
    Δf, "estimated_one_step": the model itself evaluated at θ* + Δθ (the group's Newton step)}.
    X_members, y_members: the members' inputs and labels, as the model's ``nll`` takes them."""
    model, f = sens.model, sens.outputs_[members]
    out = {}
    for key, method in (("estimated", "mpe"), ("estimated_first_order", "influence")):
        out[key] = float(np.mean(model.nll(X_members, y_members, outputs=f + sens.pred_change(members, 0.0, method))))
    out["estimated_one_step"] = float(np.mean(sens.perturbed_model(members, 0.0).nll(X_members, y_members)))
    return out


def leave_one_class_out(optimizer=None, epochs=30, n_train=500, hidden=(16,), delta=DELTA, seed=0,
                        options=None):
    """Leave one class out (mpe-math §4 groups, §8), for each class c with training members M_c:

    estimate    (1/n_c) Σ_{i∈M_c} ℓ(y_i, f_i + Δf_i), Δf from the GROUP form with all of M_c
                removed at once: Sensitivity.pred_change(M_c, 0.0) — finite ("estimated") and
                first-order ("estimated_first_order"); "estimated_one_step" evaluates the network
                itself at θ* + Δθ (the group Newton step) instead of the linearised Δf.
    truth       the model retrained without class c (``model.refit`` from θ*, L-BFGS then Newton-CG): its NLL on class
                c's test images ("retrained_test_nll", the issue's target) and on class c's
                training images ("retrained_train_nll", what the estimate literally predicts).

    By default the model is fitted to convergence (``MLP.fit``) and the full GGN is used; with
    ``optimizer`` it is trained for ``epochs`` with it instead (the full GGN at the final iterate).
    Returns {"classes", "estimated", "estimated_first_order", "estimated_one_step",
    "retrained_test_nll", "retrained_train_nll", "spearman" (finite vs test), "spearman_all"
    {estimate: {"test", "train"}}, "seconds"}."""
    start = time.perf_counter()
    data, model = digits_problem(n_train, hidden, delta, seed)
    if optimizer is None:
        model.fit(data.X_train, data.y_train)
    else:
        model, _ = _train(model, data, optimizer, epochs, [epochs], seed, options=options)
    classes = np.unique(data.y_train)
    est = {"estimated": [], "estimated_first_order": [], "estimated_one_step": []}
    truth = {"retrained_test_nll": [], "retrained_train_nll": []}
    with single_threaded_blas(), warnings.catch_warnings():
        warnings.simplefilter("ignore", PerturbationWarning)
        sens = Sensitivity(model, "full")
        for c in tqdm(classes, desc="retraining without each class"):
            members = np.flatnonzero(data.y_train == c)
            X_c, y_c = data.X_train[members], data.y_train[members]
            for key, value in group_removal_nll(sens, members, X_c, y_c).items():
                est[key].append(value)
            w = model.weights_ * (data.y_train != c)
            if optimizer is None:
                retrained = model.refit(w)
            else:
                retrained, _ = _train(digits_problem(n_train, hidden, delta, seed)[1], data, optimizer,
                                      epochs, [epochs], seed, weights=w, options=options)
            on_c = data.y_test == c
            truth["retrained_test_nll"].append(float(np.mean(retrained.nll(data.X_test[on_c], data.y_test[on_c]))))
            truth["retrained_train_nll"].append(float(np.mean(retrained.nll(X_c, y_c))))
    out = {"classes": classes, **{k: np.array(v) for k, v in est.items()},
           **{k: np.array(v) for k, v in truth.items()}}
    out["spearman_all"] = {k: {"test": float(spearmanr(out[k], out["retrained_test_nll"])[0]),
                               "train": float(spearmanr(out[k], out["retrained_train_nll"])[0])}
                           for k in est}
    out["spearman"] = out["spearman_all"]["estimated"]["test"]
    out["seconds"] = time.perf_counter() - start
    return out


# ---- 5 -----------------------------------------------------------------------------------------
def evolving_sensitivities(history=None, data=None, optimizer="adam", epochs=30,
                           checkpoints=(1, 5, 30), n_per_class=3, n_train=500, hidden=(16,),
                           delta=DELTA, seed=0):
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
