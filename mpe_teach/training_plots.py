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
        ax.set_title(f"{s}: r = {result['pearson_r'][s]:.2f} (points near y = x?)")
    fig.suptitle("Σ_c |p_c change| when one training image is removed: MPE vs retraining")
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
