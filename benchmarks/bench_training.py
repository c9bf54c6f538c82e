"""Benchmark of the training experiments (issue: sensitivity during training).

``run(quick=False)`` runs experiments 1-5 with their default arguments on the digits MLP
(64-16-10, δ = 10^-0.5, stratified subsample of 500 training images; 300 for the refit
comparison) and returns one row per target: {section, quantity, measured, target, met}.
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
    small = dict(n_train=150, hidden=(8,)) if quick else {}
    t = time.perf_counter()
    r1 = E.loo_vs_test(**(dict(epochs=5, checkpoints=(1, 5), **small) if quick else {}))
    t1 = time.perf_counter() - t
    for name, label in (("adam", "Adam"), ("von", "VON (IVON)"), ("sgd", "SGD + full GGN")):
        r = r1[name]
        rel = np.abs(r["loo_nll"] / r["test_nll"] - 1)
        late = r["epoch"] >= 5
        detail = ", ".join(f"ep{e}: {x:.0%}" for e, x in zip(r["epoch"], rel))
        ref = (f"; final test NLL {r['test_nll'][-1]:.3f} ± {r['test_nll_se']:.3f} (s.e.), LOO there with "
               f"full GGN {r['final_loo_full_ggn']:.3f}, diag GGN {r['final_loo_diag_ggn']:.3f}, "
               f"own precision {r['loo_nll'][-1]:.3f}")
        rows.append(_row(f"exp 1: |LOO-CV/test NLL - 1|, {label}",
                         f"max {rel[late].max():.0%} from epoch 5 ({detail}){ref}",
                         "<= 10% at every checkpoint after the first few epochs", rel[late].max() <= 0.10))
    t = time.perf_counter()
    r2 = E.deviations_vs_refit(**(dict(n_refits=6, n_train=100, hidden=(8,)) if quick else {}))
    t2 = time.perf_counter() - t
    for s, r in r2["pearson_r"].items():
        rows.append(_row(f"exp 2: Pearson r, estimated vs refit deviations, {s}",
                         f"{r:.3f} ({r2['seconds'][s]:.2f} s for all n)",
                         ">= 0.9 for full; reported for the others", (r >= 0.9) if s == "full" else None))
    t = time.perf_counter()
    r3 = E.delta_sweep(**(dict(deltas=(0.1, 1.0, 10.0), **small) if quick else {}))
    t3 = time.perf_counter() - t
    grid = ", ".join(f"{d:.2g}: {l:.3f}/{te:.3f}" for d, l, te in zip(r3["delta"], r3["loo_nll"], r3["test_nll"]))
    rows.append(_row("exp 3: delta picked by MPE LOO-CV (converged fits, full GGN) vs best test NLL",
                     f"{r3['best_by_loo']:.3g} vs {r3['best_by_test']:.3g} ({r3['grid_steps_apart']} grid steps; "
                     f"δ: LOO/test = {grid})", "within one grid step", r3["grid_steps_apart"] <= 1))
    t = time.perf_counter()
    r4 = E.leave_one_class_out(**small)
    t4 = time.perf_counter() - t
    sp = r4["spearman_all"]
    for key, label in (("estimated", "group finite form"), ("estimated_first_order", "group first-order form"),
                       ("estimated_one_step", "network at θ*+Δθ (group Newton step)")):
        rows.append(_row(f"exp 4: LOCO Spearman over 10 classes, {label}",
                         f"{sp[key]['test']:.2f} vs retrained test NLL on the class; {sp[key]['train']:.2f} vs "
                         f"its train NLL on the class (estimates {np.round(r4[key], 2).tolist()}; retrained test "
                         f"{np.round(r4['retrained_test_nll'], 2).tolist()})",
                         ">= 0.8 (finite form vs test)" if key == "estimated" else "reported",
                         sp[key]["test"] >= 0.8 if key == "estimated" else None))
    t = time.perf_counter()
    r5 = E.evolving_sensitivities(history=r1["adam"]["history"], data=E.digits(n_train=small.get("n_train", 500)))
    t5 = time.perf_counter() - t
    rows.append(_row("exp 5: share of examples with sensitivity < 5% of the largest (Adam, per epoch)",
                     ", ".join(f"ep{e}: {f:.0%}" for e, f in zip(r5["epoch"], r5["fraction_small"])),
                     "reported (paper: ~95% tiny on MNIST)", None))
    total = time.perf_counter() - start
    rows.append(_row("experiments 1-5 with default arguments, wall time on this machine",
                     f"{total:.0f} s (1: {t1:.0f}, 2: {t2:.0f}, 3: {t3:.0f}, 4: {t4:.0f}, 5: {t5:.1f})"
                     + (" [quick]" if quick else ""), "< 180 s on 2 cores", None if quick else total < 180))
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['quantity']}: {row['measured']}  (target {row['target']}; met={row['met']})")
