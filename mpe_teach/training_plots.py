"""Figures for the training experiments: each function draws the data an ``experiments``
function returned (it computes nothing) and returns the matplotlib figure."""
import matplotlib.pyplot as plt
import numpy as np


def plot_loo_vs_test(result):
    """Experiment 1: LOO-CV estimate (dashed) and test NLL (solid) over epochs, one panel per optimiser."""
    names = list(result)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        r = result[name]
        ax.plot(r["epoch"], r["test_nll"], "o-", label="test NLL")
        ax.plot(r["epoch"], r["loo_nll"], "s--", label="MPE LOO-CV estimate")
        ax.set_xlabel("epoch")
        ax.set_ylabel("negative log-likelihood")
        ax.set_title(f"{name}: do the two curves track?")
        ax.legend()
    fig.suptitle("LOO-CV read off the optimiser vs test NLL, without retraining")
    fig.tight_layout()
    return fig


def plot_deviations_vs_refit(result):
    """Experiment 2: estimated vs true deviations per curvature structure, with the diagonal y = x."""
    structures = list(result["estimated"])
    fig, axes = plt.subplots(1, len(structures), figsize=(3.6 * len(structures), 3.6), squeeze=False)
    top = max(result["true"].max(), *(v.max() for v in result["estimated"].values())) * 1.05
    for ax, s in zip(axes[0], structures):
        ax.scatter(result["true"], result["estimated"][s], s=14)
        ax.plot([0, top], [0, top], "k:", lw=1)
        ax.set_xlabel("true deviation (refit without the example)")
        ax.set_ylabel("estimated deviation (MPE)")
        ok = np.isfinite(result["true"])
        t, e = result["true"][ok], result["estimated"][s][ok]
        slope = float(np.sum(t * e) / np.sum(t * t))
        ax.set_title(f"{s}: r = {result['pearson_r'][s]:.2f}, slope {slope:.2f}\n(points near y = x?)")
    fig.suptitle("Fig 2 — Σ_c |p_c change| when one training image is removed: MPE vs retraining")
    fig.tight_layout()
    return fig


def plot_delta_sweep(result):
    """Experiment 3: LOO-CV estimate and test NLL against δ (log axis); markers at each minimum."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.semilogx(result["delta"], result["test_nll"], "o-", label="test NLL")
    ax.semilogx(result["delta"], result["loo_nll"], "s--", label="MPE LOO-CV estimate")
    ax.axvline(result["best_by_test"], color="C0", alpha=0.4, label="best δ by test NLL")
    ax.axvline(result["best_by_loo"], color="C1", alpha=0.4, ls="--", label="best δ by LOO-CV")
    ax.set_xlabel("prior precision δ")
    ax.set_ylabel("negative log-likelihood")
    ax.set_title("Does the LOO-CV minimum pick the δ the test set would?")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_leave_one_class_out(result):
    """Experiment 4: per-class MPE estimate (group finite form, all of the class removed at once)
    vs the test NLL on the class after retraining without it."""
    fig, ax = plt.subplots(figsize=(4.6, 4))
    ax.scatter(result["estimated"], result["retrained_test_nll"])
    for c, x, y in zip(result["classes"], result["estimated"], result["retrained_test_nll"]):
        ax.annotate(str(c), (x, y), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("MPE estimate: class's training NLL after removing the class (group form)")
    ax.set_ylabel("test NLL on the class, retrained without it")
    ax.set_title(f"Leave one class out: same ranking? (Spearman {result['spearman']:.2f})")
    fig.tight_layout()
    return fig


def plot_sorted_sensitivities(result):
    """Experiment 5a: sorted per-example sensitivities at each checkpoint (log scale)."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for epoch, s in zip(result["epoch"], result["sorted"]):
        ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s, 1e-12), label=f"epoch {epoch}")
    ax.set_xlabel("training examples, most sensitive first")
    ax.set_ylabel("sensitivity (estimated deviation)")
    ax.set_title("Over training, a few examples come to dominate")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_memory_images(result):
    """Experiment 5b: per class, the most (top rows) and least (bottom rows) sensitive images."""
    most, least, classes = result["most_images"], result["least_images"], result["classes"]
    k = most.shape[1]
    fig, axes = plt.subplots(2 * k, len(classes), figsize=(len(classes) * 0.9, 2 * k * 0.95))
    for j, c in enumerate(classes):
        for r in range(k):
            for row, img in ((r, most[j, r]), (k + r, least[j, r])):
                ax = axes[row, j]
                ax.imshow(img, cmap="gray_r")
                ax.set_xticks([])
                ax.set_yticks([])
        axes[0, j].set_title(str(c))
    axes[0, 0].set_ylabel("most", rotation=0, ha="right")
    axes[k, 0].set_ylabel("least", rotation=0, ha="right")
    fig.suptitle("Most sensitive images (top) look atypical; least sensitive (bottom) are prototypes")
    fig.tight_layout()
    return fig


# ---- the paper's figures (tools/paper.py) ------------------------------------------------------
def plot_loo_vs_test_steps(result):
    """Fig 1b/5: per optimiser, the test NLL (solid) and the MPE LOO-CV estimate read off the
    optimiser (dashed) over training steps (log axes); at the last step the full-GGN estimate at
    the same iterate and, where measured, the exact LOO (refits) at the converged θ* nearby."""
    names = list(result)
    cols = min(3, len(names))
    rows = -(-(len(names) + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.9 * rows), squeeze=False)
    flat = axes.ravel()
    positive = [v for r in result.values() for v in (*r["test_nll"], *r["loo_nll"]) if v > 0]
    low, high = 0.5 * min(positive), 2 * max(positive)
    for ax, name in zip(flat, names):
        r = result[name]
        step = np.maximum(r["step"], 1)
        ax.loglog(step, r["test_nll"], "o-", color="C0", label="test NLL")
        ax.loglog(step, r["loo_nll"], "s--", color="C1", label="LOO-CV estimate, optimiser's own precision")
        ax.loglog(step[-1], r["final_loo_full_ggn"], "x", color="C2", ms=9, mew=2,
                  label="LOO-CV estimate, full GGN (last step)")
        if "exact" in r:
            e = r["exact"]["exact"]
            value = max(e["value"], low)
            lo = max(e["ci"][0], low)
            ax.errorbar(step[-1] * 1.3, value, yerr=[[value - lo], [max(e["ci"][1] - value, 0)]],
                        fmt="*", color="C3", ms=10, label="exact LOO by refits at converged θ* (95% CI)")
            ax.loglog(step[-1] * 1.3, r["exact"]["test_nll"], "D", color="C0", mfc="none", ms=7,
                      label="test NLL at converged θ*")
        ax.set_ylim(low, high)
        ax.set_xlabel(f"optimiser step (log; {r['steps_per_epoch']} steps = 1 epoch)")
        ax.set_ylabel("negative log-likelihood (log)")
        ax.set_title(f"{name}: final LOO/test = {1 + r['final_gap']:.2f}, ρ = {r['spearman']:.2f}",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = [], []
    for ax in flat[:len(names)]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    for ax in flat[len(names):]:
        ax.axis("off")
    flat[len(names)].legend(handles, labels, loc="center", frameon=False, fontsize=9)
    fig.suptitle("Fig 1b/5 — does the LOO-CV estimate read off the optimiser during training follow the\n"
                 "test NLL? (digits, MLP 64-16-10; ρ = Spearman over the checkpoints)")
    fig.tight_layout()
    return fig


def plot_delta_sweep_both(result):
    """Fig 4: over δ (log axis), left our LOO-CV estimate (finite form, full GGN), right the
    paper's formula (first order, diagonal of V; full GGN and KFAC); both with the test NLL, the
    exact LOO by refits (95% interval) where measured, and a marker at each curve's minimum."""
    d = result["delta"]
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6), sharey=True)
    panels = ((axes[0], "ours: finite form, full GGN", (("loo_nll", "C1", "s--"),)),
              (axes[1], "the paper's formula: first order, diag(V)",
               (("official_nll", "C2", "^--"), ("official_kfac_nll", "C4", "v:"))))
    label = {"loo_nll": "MPE LOO-CV (ours)", "official_nll": "official formula, full GGN",
             "official_kfac_nll": "official formula, KFAC"}
    for ax, title, curves in panels:
        ax.semilogx(d, result["test_nll"], "o-", color="C0", label="test NLL (±1 s.e.)")
        ax.fill_between(d, result["test_nll"] - result["test_nll_se"],
                        result["test_nll"] + result["test_nll_se"], color="C0", alpha=0.12)
        if "exact_nll" in result:
            err = np.abs(result["exact_ci"].T - result["exact_nll"])
            ax.errorbar(d * 1.04, result["exact_nll"], yerr=err, fmt="*", color="C3", ms=9,
                        label="exact LOO by refits (95% CI)")
        best = int(np.argmin(result["test_nll"]))
        ax.plot(d[best], result["test_nll"][best], "o", ms=15, mfc="none", mec="C0", mew=2)
        for key, color, style in curves:
            ax.semilogx(d, result[key], style, color=color, label=label[key])
            b = int(np.argmin(result[key]))
            ax.plot(d[b], result[key][b], "o", ms=15, mfc="none", mec=color, mew=2)
        ax.set_xlabel("prior precision δ (log)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False, fontsize=9)
    axes[0].set_ylabel("negative log-likelihood")
    fig.suptitle("Fig 4 — choosing δ without retraining: does each estimate's minimum (circled) sit "
                 "at the test NLL's?")
    fig.tight_layout()
    return fig


def plot_loco(result):
    """Fig 3a: per class (labels), the paper's estimate (mean official LOO NLL of the class's
    training examples) against the whole-test NLL after retraining without the class, one panel
    per retraining budget and one for converged retraining, marker area ∝ the drop in test
    accuracy; last panel the group form against converged retraining (the class's own test
    images). Titles give Spearman ρ with a 95% bootstrap interval over test images."""
    budgets = list(result["budgets"])
    conv = "converged_test_nll" in result
    panels = [(result["paper"], result["budget_test_nll"][b], result["budget_accuracy_drop"][b],
               f"paper vs {budget}-epoch retraining", f"test NLL after {budget} epoch(s) of SGD\nwithout the class (whole test set)",
               "paper estimate: mean LOO NLL of\nthe class's training examples")
              for b, budget in enumerate(budgets)]
    if conv:
        panels.append((result["paper"], result["converged_test_nll"], result["converged_accuracy_drop"],
                       "paper vs converged retraining", "test NLL after converged retraining\nwithout the class (whole test set)",
                       "paper estimate: mean LOO NLL of\nthe class's training examples"))
        panels.append((result["group"], result["converged_class_test_nll"], result["converged_accuracy_drop"],
                       "group vs converged (class's test images)", "the class's test NLL after converged\nretraining without it",
                       "group form: class's training NLL\nafter removing the class"))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.9 * len(panels), 4.4), squeeze=False)
    for ax, (est, truth, drop, key, xlabel, ylabel) in zip(axes[0], panels):
        ax.scatter(truth, est, s=20 + 1500 * np.clip(drop, 0, None), alpha=0.5, edgecolor="k")
        for c, x, y in zip(result["classes"], truth, est):
            ax.annotate(str(c), (x, y), textcoords="offset points", xytext=(5, 5), fontsize=9)
        rho = result["spearman"][key]
        ax.set_title(f"{key}\nSpearman ρ = {rho['value']:.2f} [{rho['ci'][0]:.2f}, {rho['ci'][1]:.2f}]",
                     fontsize=10)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.margins(0.15)
        ax.grid(True, alpha=0.3)
    fig.suptitle("Fig 3a — leave one class out: does the estimate rank the classes as retraining does? "
                 "(digit = class; marker area ∝ test-accuracy drop)")
    fig.tight_layout()
    return fig


def plot_memory_maps(result):
    """Fig 3b: the paper's memory-map curve: mean sensitivity in bins of examples sorted by the
    FINAL sensitivity (most sensitive left), one curve per checkpoint (darker = later)."""
    fig, ax = plt.subplots(figsize=(11, 4.4))
    binned, n_bins = result["binned"], result["binned"].shape[1]
    shades = np.linspace(0.75, 0.0, len(binned))
    for s, row, shade, small, acc in zip(result["step"], binned, shades, result["share_below_5pct"],
                                         result["test_accuracy"]):
        ax.plot(np.arange(1, n_bins + 1), row, "-", color=str(shade), lw=2.5,
                label=f"step {s} (epoch {s / result['steps_per_epoch']:.2g}): test acc {acc:.2f}, "
                      f"{small:.0%} below 5% of max")
    ax.set_yscale("log")
    ax.set_xlabel(f"bins of {len(result['order']) // n_bins} training examples, most sensitive "
                  "(at the end of training) first")
    ax.set_ylabel("mean sensitivity Σ_k |ē λ v| (log)")
    ax.set_title(f"Fig 3b — sensitivities read off {result['optimizer'].upper()} during training")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="training checkpoint", loc="center left", bbox_to_anchor=(1.02, 0.5),
              frameon=False, fontsize=9)
    fig.tight_layout()
    return fig
