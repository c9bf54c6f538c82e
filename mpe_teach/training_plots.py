"""Figures for the training experiments: each function draws the data an ``experiments``
function returned (it computes nothing) and returns the matplotlib figure.

Every colour, line style and marker comes from ``plots.STYLE`` through ``plots.style(role)``
(test NLL: "test", the MPE's finite form: "mpe", the paper's formula: "official", the truth by
retraining: "refit", a curvature structure: its own role); epochs and optimiser steps are on
logarithmic axes (early checkpoints would crowd together on a linear one); legends sit outside
the data."""
import matplotlib.pyplot as plt
import numpy as np

from . import plots


def _shades(n, low=0.3):
    """n opacities from ``low`` (the first, earliest) to 1 (the last): later checkpoints darker."""
    return np.linspace(low, 1.0, n) if n > 1 else np.ones(1)


def _plain_log_ticks(ax, xticks=None):
    """Log axes labelled with plain numbers (0.2, 0.5, 1, 2 rather than 2×10⁻¹), and the x ticks
    at ``xticks`` (e.g. the checkpoints) when given."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(NullFormatter())
    if xticks is not None:
        ax.set_xticks(np.asarray(xticks, dtype=float))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())


def _shared_legend(axes, ax=None, **kw):
    """One legend with every distinct label of ``axes``, to the right of ``ax`` (default the last)."""
    handles, labels = [], []
    for a in np.ravel(axes):
        for h, l in zip(*a.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    ax = np.ravel(axes)[-1] if ax is None else ax
    return plots.legend_outside(ax, handles=handles, labels=labels, **kw)


def plot_loo_vs_test(result):
    """Experiment 1: per optimiser, the test NLL and the MPE LOO-CV estimate read off the
    optimiser over epochs (log axes). Error bars: ±1 standard error, where the result holds one
    ("loo_nll_se" per checkpoint; "test_nll_se", of the final test NLL)."""
    names = list(result)
    fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names) + 2.2, 3.6), squeeze=False,
                             sharey=True, layout="constrained")
    for ax, name in zip(axes[0], names):
        r = result[name]
        epoch = np.asarray(r["epoch"], dtype=float)
        ax.plot(epoch, r["test_nll"], **plots.style("test"), marker=plots.STYLE["test"]["marker"],
                label="test NLL" + (" (±1 s.e. at the end)" if "test_nll_se" in r else ""))
        if "test_nll_se" in r:
            ax.errorbar(epoch[-1:], r["test_nll"][-1:], yerr=[r["test_nll_se"]], capsize=3,
                        color=plots.STYLE["test"]["color"], fmt="none")
        # coloured by the form the records used: finite (the model's own precision) or first
        # order (an optimiser's approximate precision), as training.train recorded it
        first = all(rec.get("method") == "influence" for rec in r.get("history", [{}]))
        role = "first_order" if first else "mpe"
        ax.errorbar(epoch * 1.04, r["loo_nll"], yerr=r.get("loo_nll_se"), capsize=3,
                    **plots.style(role), marker=plots.STYLE[role]["marker"], ms=4,
                    label=f"MPE LOO estimate ({'first order' if first else 'finite form'}), "
                          "optimiser's own precision" + (" (±1 s.e.)" if "loo_nll_se" in r else ""))
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log_ticks(ax, epoch)
        ax.set_xlabel("epoch (log)")
        title = name
        if "final_gap" in r:
            title += f": LOO/test at the end {1 + r['final_gap']:.2f}"
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("negative log-likelihood (log)")
    _shared_legend(axes[0])
    fig.suptitle("LOO estimate read off the optimiser (blue: finite form, green: first order) vs test NLL (black): "
                 "do they fall together, and meet at the end?", fontsize=11)
    return fig


def plot_deviations_vs_refit(result):
    """Experiment 2: estimated vs true sensitivities per curvature structure, with y = x."""
    structures = list(result["estimated"])
    fig, axes = plt.subplots(1, len(structures), figsize=(3.4 * len(structures) + 1.8, 3.7),
                             squeeze=False, layout="constrained")
    top = max(np.nanmax(result["true"]), *(np.nanmax(v) for v in result["estimated"].values())) * 1.05
    ok = np.isfinite(result["true"])
    for ax, s in zip(axes[0], structures):
        role = s if s in plots.STYLE else "mpe"
        ax.plot([0, top], [0, top], color="0.5", lw=1, label="y = x (estimate = truth)")
        ax.scatter(result["true"], result["estimated"][s], s=14, **plots.style(role, line=False),
                   label=plots.LABELS.get(s, s))
        ax.set_xlabel("true sensitivity (refit without the example)")
        ax.set_ylabel("estimated sensitivity (MPE)")
        t, e = result["true"][ok], result["estimated"][s][ok]
        slope = float(np.sum(t * e) / np.sum(t * t))
        ax.set_title(f"{s}: r = {result['pearson_r'][s]:.2f}, slope {slope:.2f}\n(points near y = x?)",
                     fontsize=10)
    _shared_legend(axes[0])
    fig.suptitle("Fig 2 — Σ_c |Δp_ic| when one training image is removed: MPE vs retraining")
    return fig


def plot_delta_sweep(result):
    """Experiment 3: LOO-CV estimate and test NLL against δ (log axis); a line at each minimum."""
    fig, ax = plt.subplots(figsize=(6.8, 3.6), layout="constrained")
    test, mpe = plots.style("test"), plots.style("mpe")
    ax.semilogx(result["delta"], result["test_nll"], marker=plots.STYLE["test"]["marker"],
                label="test NLL", **test)
    ax.semilogx(result["delta"], result["loo_nll"], marker=plots.STYLE["mpe"]["marker"],
                label="MPE LOO-CV estimate", **mpe)
    ax.axvline(result["best_by_test"], color=test["color"], alpha=0.4, label="best δ by test NLL")
    ax.axvline(result["best_by_loo"], color=mpe["color"], alpha=0.4, ls="--", label="best δ by LOO-CV")
    ax.set_xlabel("prior precision δ (log)")
    ax.set_ylabel("negative log-likelihood")
    ax.set_title("Does the LOO-CV minimum pick the δ the test set would?")
    plots.legend_outside(ax)
    return fig


def plot_leave_one_class_out(result):
    """Experiment 4: per-class MPE estimate (group finite form, all of the class removed at once)
    vs the test NLL on the class after retraining without it."""
    fig, ax = plt.subplots(figsize=(5.6, 4), layout="constrained")
    ax.scatter(result["estimated"], result["retrained_test_nll"], **plots.style("mpe", line=False),
               label="one class (its digit)")
    for c, x, y in zip(result["classes"], result["estimated"], result["retrained_test_nll"]):
        ax.annotate(str(c), (x, y), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("MPE estimate: class's training NLL\nafter removing the class (group form)")
    ax.set_ylabel("test NLL on the class, retrained without it")
    ax.set_title(f"Leave one class out: same ranking? (Spearman {result['spearman']:.2f})", fontsize=10)
    ax.margins(0.12)
    plots.legend_outside(ax)
    return fig


def plot_sorted_sensitivities(result):
    """Experiment 5a: sorted per-example sensitivities at each checkpoint (log scale), the
    later checkpoints darker."""
    fig, ax = plt.subplots(figsize=(6.8, 3.8), layout="constrained")
    mpe = plots.style("mpe")
    for epoch, s, alpha in zip(result["epoch"], result["sorted"], _shades(len(result["epoch"]))):
        ax.semilogy(np.arange(1, len(s) + 1), np.maximum(s, 1e-12), color=mpe["color"], alpha=alpha,
                    lw=1 + alpha, label=f"epoch {epoch:g}")
    ax.set_xlabel("training examples, most sensitive first (rank)")
    ax.set_ylabel("sensitivity Σ_c |Δp_ic| (log)")
    ax.set_title("Sorted sensitivities per checkpoint: how fast does each curve fall?", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    plots.legend_outside(ax, title="checkpoint (darker = later)")
    return fig


def plot_memory_images(result):
    """Experiment 5b: per class, the most (top rows) and least (bottom rows) sensitive images at
    the last checkpoint."""
    most, least, classes = result["most_images"], result["least_images"], result["classes"]
    k = most.shape[1]
    fig, axes = plt.subplots(2 * k, len(classes), figsize=(len(classes) * 0.9 + 1.2, 2 * k * 0.95))
    axes = np.atleast_2d(axes).reshape(2 * k, len(classes))
    for j, c in enumerate(classes):
        for r in range(k):
            for row, img in ((r, most[j, r]), (k + r, least[j, r])):
                ax = axes[row, j]
                ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
        axes[0, j].set_title(str(c))
    for row, label in ((0, "most\nsensitive"), (k, "least\nsensitive")):
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"Per digit class, the {k} most (top) and {k} least (bottom) sensitive "
                 "training images at the last checkpoint", fontsize=10)
    fig.tight_layout()
    return fig


# ---- the paper's figures (tools/paper.py) ------------------------------------------------------
def plot_loo_vs_test_steps(result):
    """Fig 1b/5: per optimiser, the test NLL and the MPE LOO-CV estimate read off the optimiser
    over training steps (log axes); at the last step the full-GGN estimate at the same iterate
    and, where measured, the exact LOO (refits) at the converged θ* nearby."""
    names = list(result)
    cols = min(3, len(names))
    rows = -(-(len(names) + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.9 * rows), squeeze=False)
    flat = axes.ravel()
    shown = [v for r in result.values() for v in (*r["test_nll"], *r["loo_nll"], r["final_loo_full_ggn"])]
    shown += [v for r in result.values() if "exact" in r
              for v in (r["exact"]["exact"]["value"], *r["exact"]["exact"]["ci"], r["exact"]["test_nll"])]
    positive = [v for v in shown if v > 0]
    low, high = 0.5 * min(positive), 2 * max(positive)      # every marker inside the axes
    for ax, name in zip(flat, names):
        r = result[name]
        step = np.maximum(r["step"], 1)
        ax.loglog(step, r["test_nll"], marker=plots.STYLE["test"]["marker"], label="test NLL",
                  **plots.style("test"))
        ax.loglog(step, r["loo_nll"], marker=plots.STYLE["mpe"]["marker"], ms=4,
                  label="LOO-CV estimate, optimiser's own precision", **plots.style("mpe"))
        ax.loglog(step[-1], r["final_loo_full_ggn"], ms=9, mew=2, linestyle="none",
                  **plots.style("full", line=False, marker="x"),
                  label="LOO-CV estimate, full GGN (last step)")
        if "exact" in r:
            e = r["exact"]["exact"]
            value = max(e["value"], low)
            lo = max(e["ci"][0], low)
            ax.errorbar(step[-1] * 1.3, value, yerr=[[value - lo], [max(e["ci"][1] - value, 0)]],
                        ms=8, capsize=3, linestyle="none", **plots.style("refit", line=False),
                        label="exact LOO by refits at converged θ* (95% CI)")
            ax.loglog(step[-1] * 1.3, r["exact"]["test_nll"], mfc="none", ms=7, linestyle="none",
                      **plots.style("test", line=False, marker="D"), label="test NLL at converged θ*")
        ax.set_ylim(low, high)
        _plain_log_ticks(ax)
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
    paper's formula (first order, diagonal of V; full GGN and KFAC); both with the test NLL
    (±1 standard error, shaded), the exact LOO by refits (95% interval) where measured, and a
    circle at each curve's minimum. Where the result holds a standard error of an estimate's
    mean over the training examples ("loo_nll_se", "official_nll_se", "official_kfac_nll_se"),
    the estimate gets ±1 s.e. error bars."""
    d = result["delta"]
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.4), sharey=True, layout="constrained")
    panels = ((axes[0], "ours: finite form, full GGN", (("loo_nll", "mpe"),)),
              (axes[1], "the paper's formula: first order, diag(V)",
               (("official_nll", "official"), ("official_kfac_nll", "kfac"))))
    label = {"loo_nll": "MPE LOO-CV (ours)", "official_nll": "official formula, full GGN",
             "official_kfac_nll": "official formula, KFAC"}
    test = plots.style("test")
    for ax, title, curves in panels:
        ax.semilogx(d, result["test_nll"], marker=plots.STYLE["test"]["marker"],
                    label="test NLL (±1 s.e. shaded)", **test)
        ax.fill_between(d, result["test_nll"] - result["test_nll_se"],
                        result["test_nll"] + result["test_nll_se"], color=test["color"], alpha=0.12)
        if "exact_nll" in result:
            err = np.abs(result["exact_ci"].T - result["exact_nll"])
            ax.errorbar(d * 1.04, result["exact_nll"], yerr=err, ms=7, capsize=3, linestyle="none",
                        **plots.style("refit", line=False), label="exact LOO by refits (95% CI)")
        best = int(np.argmin(result["test_nll"]))
        ax.plot(d[best], result["test_nll"][best], "o", ms=15, mfc="none", mec=test["color"], mew=2)
        for shift, (key, role) in zip((0.97, 1.03), curves):
            se = result.get(f"{key}_se")
            ax.errorbar(d * (shift if se is not None else 1.0), result[key], yerr=se, capsize=3,
                        marker=plots.STYLE[role]["marker"], ms=5, **plots.style(role),
                        label=label[key] + (" (±1 s.e.)" if se is not None else ""))
            b = int(np.argmin(result[key]))
            ax.plot(d[b], result[key][b], "o", ms=15, mfc="none", mec=plots.STYLE[role]["color"], mew=2)
        ax.set_xscale("log")
        ax.set_xlabel("prior precision δ (log)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("negative log-likelihood")
    _shared_legend(axes)
    fig.suptitle("Fig 4 — choosing δ without retraining: does each estimate's minimum (circled) sit "
                 "at the test NLL's?", fontsize=11)
    return fig


def plot_loco(result):
    """Fig 3a: per class (labels), the paper's estimate (mean official LOO NLL of the class's
    training examples) against the whole-test NLL after retraining without the class, one panel
    per retraining budget and one for converged retraining, marker area ∝ the drop in test
    accuracy; last panel the group form against converged retraining (the class's own test
    images). Titles give Spearman ρ with a 95% bootstrap interval over test images."""
    budgets = list(result["budgets"])
    conv = "converged_test_nll" in result
    paper_y = "paper estimate: mean LOO NLL of\nthe class's training examples"
    panels = [(result["paper"], result["budget_test_nll"][b], result["budget_accuracy_drop"][b],
               f"paper vs {budget}-epoch retraining",
               f"test NLL after {budget} epoch(s) of SGD\nwithout the class (whole test set)",
               paper_y, "official")
              for b, budget in enumerate(budgets)]
    if conv:
        panels.append((result["paper"], result["converged_test_nll"], result["converged_accuracy_drop"],
                       "paper vs converged retraining",
                       "test NLL after converged retraining\nwithout the class (whole test set)",
                       paper_y, "official"))
        panels.append((result["group"], result["converged_class_test_nll"], result["converged_accuracy_drop"],
                       "group vs converged (class's test images)",
                       "the class's test NLL after converged\nretraining without it",
                       "group form: class's training NLL\nafter removing the class", "mpe"))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.9 * len(panels), 4.4), squeeze=False)
    for ax, (est, truth, drop, key, xlabel, ylabel, role) in zip(axes[0], panels):
        ax.scatter(truth, est, s=20 + 1500 * np.clip(drop, 0, None), alpha=0.5, edgecolor="k",
                   color=plots.STYLE[role]["color"])
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
    color = plots.STYLE["official"]["color"]
    for s, row, alpha, small, acc in zip(result["step"], binned, _shades(len(binned)),
                                         result["share_below_5pct"], result["test_accuracy"]):
        ax.plot(np.arange(1, n_bins + 1), row, "-", color=color, alpha=alpha, lw=2.5,
                label=f"step {s} (epoch {s / result['steps_per_epoch']:.2g}): test acc {acc:.2f}, "
                      f"{small:.0%} below 5% of max")
    ax.set_yscale("log")
    ax.set_xlabel(f"bins of {len(result['order']) // n_bins} training examples, most sensitive "
                  "(at the end of training) first")
    ax.set_ylabel("mean sensitivity Σ_k |ē λ v| (log)")
    ax.set_title(f"Fig 3b — sensitivities read off {result['optimizer'].upper()} during training")
    ax.grid(True, which="both", alpha=0.3)
    plots.legend_outside(ax, title="training checkpoint (darker = later)", fontsize=9)
    fig.tight_layout()
    return fig
