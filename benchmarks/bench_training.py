"""Benchmark of the training experiments (issue: sensitivity during training).

``run(quick=False)`` runs experiments 1-5 on the digits MLP (64-16-10, stratified subsample of
500 training images; 300 for the refit comparison) and returns one row per target:
{section, quantity, measured, target, met}.
"""
import time
import warnings

import numpy as np

from mpe_teach import experiments as E
from mpe_teach.mpe import PerturbationWarning

SECTION = "sensitivity during training"


def _row(quantity, measured, target, met):
    return {"section": SECTION, "quantity": quantity, "measured": measured, "target": target,
            "met": None if met is None else bool(met)}


def run(quick=False):
    warnings.simplefilter("ignore", PerturbationWarning)
    rows, start = [], time.perf_counter()
    epochs = 10 if quick else 30
    checkpoints = (1, 2, 5, 10) if quick else (1, 2, 5, 10, 20, 30)
    t = time.perf_counter()
    r1 = E.loo_vs_test(epochs=epochs, checkpoints=checkpoints)
    t1 = time.perf_counter() - t
    for name, label in (("adam", "Adam"), ("von", "VON (IVON)"), ("sgd", "SGD + full GGN")):
        rel = np.abs(r1[name]["loo_nll"] / r1[name]["test_nll"] - 1)
        late = r1[name]["epoch"] >= 5
        detail = ", ".join(f"ep{e}: {x:.0%}" for e, x in zip(r1[name]["epoch"], rel))
        rows.append(_row(f"exp 1: |LOO-CV/test NLL - 1|, {label}", f"max {rel[late].max():.0%} from epoch 5 ({detail})",
                         "<= 10% at every checkpoint after the first few epochs", rel[late].max() <= 0.10))
    t = time.perf_counter()
    r2 = E.deviations_vs_refit(n_refits=10 if quick else 20)
    t2 = time.perf_counter() - t
    for s, r in r2["pearson_r"].items():
        rows.append(_row(f"exp 2: Pearson r, estimated vs refit deviations, {s}",
                         f"{r:.3f} ({r2['seconds'][s]:.2f} s for all n)",
                         ">= 0.9 for full; reported for the others", (r >= 0.9) if s == "full" else None))
    t = time.perf_counter()
    r3 = E.delta_sweep(epochs=epochs)
    t3 = time.perf_counter() - t
    rows.append(_row("exp 3: delta picked by MPE LOO-CV vs best test NLL",
                     f"{r3['best_by_loo']:.3g} vs {r3['best_by_test']:.3g} ({r3['grid_steps_apart']} grid steps; "
                     "grid 10^-2..10^1 in half decades)", "within one grid step", r3["grid_steps_apart"] <= 1))
    t = time.perf_counter()
    r4 = E.leave_one_class_out(epochs=epochs)
    t4 = time.perf_counter() - t
    rows.append(_row("exp 4: LOCO Spearman over 10 classes", f"{r4['spearman']:.2f}", ">= 0.8",
                     r4["spearman"] >= 0.8))
    t = time.perf_counter()
    r5 = E.evolving_sensitivities(history=r1["adam"]["history"], data=E.digits(n_train=500))
    t5 = time.perf_counter() - t
    rows.append(_row("exp 5: share of examples with sensitivity < 5% of the largest (Adam, per epoch)",
                     ", ".join(f"ep{e}: {f:.0%}" for e, f in zip(r5["epoch"], r5["fraction_small"])),
                     "reported (paper: ~95% tiny on MNIST)", None))
    total = time.perf_counter() - start
    rows.append(_row("experiments 1-5, wall time on this machine",
                     f"{total:.0f} s (1: {t1:.0f}, 2: {t2:.0f}, 3: {t3:.0f}, 4: {t4:.0f}, 5: {t5:.1f})"
                     + (" [quick]" if quick else ""), "< 180 s on 2 cores", None if quick else total < 180))
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['quantity']}: {row['measured']}  (target {row['target']}; met={row['met']})")
