"""Figures for the notebooks and the widgets. Plots only draw: every number they show is
computed by the library (models, Sensitivity, refit) and passed in.

Each function draws on a given matplotlib Axes (or Figure) and labels it: axis labels and a
title that says what to look at.
"""
import base64
import io

import numpy as np

# ---- the visual language: one role, one look, in every figure and widget ---------------------
# Every figure and widget takes its colours, line styles and markers from STYLE by role (through
# ``style(role)``), so a colour means the same thing everywhere: blue is always the finite MPE,
# orange always the truth by retraining, green always the first-order form, grey what the model
# was trained to. Never reuse a role's colour for something else.
STYLE = {
    "trained":     {"color": "0.55", "linestyle": ":", "marker": "o"},       # the fitted model, all weights 1
    "mpe":         {"color": "tab:blue", "linestyle": "-", "marker": "o"},   # the finite MPE form (Δw, the secant)
    "first_order": {"color": "tab:green", "linestyle": "-.", "marker": "^"}, # the first-order form (the tangent)
    "refit":       {"color": "tab:orange", "linestyle": "--", "marker": "s"},# the truth: retrained
    "official":    {"color": "tab:purple", "linestyle": ":", "marker": "v"}, # the paper's code's estimator
    "singles":     {"color": "tab:brown", "linestyle": (0, (3, 1, 1, 1)), "marker": "D"},  # sum of single-example MPEs
    "alone":       {"color": "teal", "linestyle": "--", "marker": "x"},      # each member's own removal, alone
    "test":        {"color": "black", "linestyle": "-", "marker": "x"},      # held-out (test) data
    "selected":    {"color": "crimson", "linestyle": "-", "marker": "*"},    # the example being perturbed
    "added":       {"color": "crimson", "linestyle": "-", "marker": "P"},    # a point added by the learner
    "random":      {"color": "0.7", "linestyle": ":", "marker": "."},        # a random baseline
    # curvature structures (notebook 5): the exact one is the MPE's blue
    "full":        {"color": "tab:blue", "linestyle": "-", "marker": "o"},
    "diag":        {"color": "tab:cyan", "linestyle": "--", "marker": "d"},
    "kfac":        {"color": "tab:pink", "linestyle": "-.", "marker": "p"},
    "last_layer":  {"color": "tab:olive", "linestyle": ":", "marker": "h"},
}
FIELD_CMAP = "Purples"   # the sensitivity field: how much a new point placed there would move the model
LABELS = {"trained": "trained (all weights 1)", "mpe": "MPE, finite form",
          "first_order": "MPE, first order (influence function)", "refit": "refit (truth)",
          "official": "paper's code (first order, diagonal V)",
          "singles": "sum of single-example MPEs (J_M Σ_j Δθ_j)",
          "alone": "each member removed alone", "test": "test data",
          "selected": "selected example", "added": "added point", "random": "random",
          "full": "full GGN", "diag": "diagonal", "kfac": "KFAC", "last_layer": "last layer"}


def style(role, line=True, **overrides):
    """Matplotlib keyword arguments for a role of STYLE: a line (color, linestyle) or, with
    line=False, a marker (color, marker). Keyword overrides win."""
    s = STYLE[role]
    kw = {"color": s["color"], "linestyle": s["linestyle"]} if line else \
        {"color": s["color"], "marker": s["marker"]}
    kw.update(overrides)
    return kw


def legend_outside(ax, **kw):
    """A legend to the right of the axes, never on top of the data."""
    kw = {"fontsize": 7, "loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0,
          **kw}
    return ax.legend(**kw)


MPE_COLOR, REFIT_COLOR = STYLE["mpe"]["color"], STYLE["refit"]["color"]
BEFORE_COLOR, ALT_COLOR = STYLE["trained"]["color"], STYLE["first_order"]["color"]
CLASS_COLORS = ("slateblue", "goldenrod")   # the two classes of the 2-D data sets


def fitted_lines(ax, X, y, lines, example=None, weight=1.0, title=None):
    """1-D regression: the data (the chosen example enlarged by its weight, hollow when removed)
    and fitted lines. lines: {label: (x_grid (m,), f (m,), style dict)}."""
    x = np.asarray(X)[:, 0]
    ax.scatter(x, y, s=18, color="0.3", label="training data", zorder=2)
    if example is not None:
        size = 40 + 80 * weight
        face = "none" if weight == 0 else "crimson"
        ax.scatter(x[example], y[example], s=size, facecolors=face, edgecolors="crimson",
                   linewidths=2, zorder=3, label=f"example {example} (weight {weight:.2f})")
    for label, (xg, f, style) in lines.items():
        ax.plot(xg, f, label=label, **style)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or "Fitted lines")
    ax.legend(fontsize=7, loc="upper left")


def param_bars(ax, names, estimate, truth, title="Parameter change Δθ: MPE vs refit",
               labels=("MPE", "refit")):
    """Side-by-side bars of an estimated and a true parameter change (P,)."""
    pos = np.arange(len(names))
    ax.bar(pos - 0.2, estimate, width=0.4, color=MPE_COLOR, label=labels[0])
    ax.bar(pos + 0.2, truth, width=0.4, color=REFIT_COLOR, label=labels[1], alpha=0.8)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xticks(pos, names)
    ax.set_xlabel("parameter")
    ax.set_ylabel("change Δθ")
    ax.set_title(title)
    ax.legend(fontsize=7)


def classes_scatter(ax, X, y, class_names=None, size=16):
    """2-D points coloured by their (binary) label."""
    for c in np.unique(y):
        name = class_names[c] if class_names is not None else f"class {c}"
        ax.scatter(X[y == c, 0], X[y == c, 1], s=size, color=CLASS_COLORS[int(c) % 2],
                   label=name, zorder=2)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")


def boundary(ax, theta, xlim, style, label):
    """The line θ0 + θ1 x1 + θ2 x2 = 0 (a linear model's decision boundary, p = 0.5)."""
    x1 = np.linspace(*xlim, 50)
    ax.plot(x1, -(theta[0] + theta[1] * x1) / theta[2], label=label, **style)


def decision_boundaries(ax, X, y, thetas, example=None, weight=1.0, class_names=None,
                        title=None):
    """Binary 2-D data and the decision boundaries of several fitted linear logistic models.
    thetas: {label: (theta (3,), style dict)}."""
    classes_scatter(ax, X, y, class_names)
    xlim = (X[:, 0].min() - 0.3, X[:, 0].max() + 0.3)
    ylim = (X[:, 1].min() - 0.3, X[:, 1].max() + 0.3)
    for label, (theta, style) in thetas.items():
        boundary(ax, theta, xlim, style, label)
    if example is not None:
        face = "none" if weight == 0 else "crimson"
        ax.scatter(*X[example], s=60 + 100 * weight, marker="*", facecolors=face,
                   edgecolors="crimson", linewidths=1.5, zorder=3,
                   label=f"example {example} (weight {weight:.2f})")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_title(title or "Decision boundaries (p = 0.5)")
    ax.legend(fontsize=7, loc="lower left")


def change_curves(ax, weights, curves, current=None, ylabel="change", title=None):
    """Curves of a change against the example's weight. curves: {label: (values, style)}."""
    for label, (values, style) in curves.items():
        ax.plot(weights, values, label=label, **style)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.axvline(1, color="0.6", linewidth=0.8, linestyle=":")
    if current is not None:
        ax.axvline(current, color="crimson", linewidth=1.2, label=f"weight = {current:.2f}")
    ax.set_xlabel("weight of the example (0 = removed, 1 = as trained)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Change against weight")
    ax.legend(fontsize=7)


def estimate_vs_truth(ax, truth, estimates, xlabel="true change (refit)",
                      ylabel="MPE estimate", title="Estimate vs truth: on the diagonal = exact"):
    """Scatter estimates against the truth with the y = x line. estimates: {label: values}."""
    truth = np.asarray(truth)
    markers = ("o", "x", "^", "s")
    lo = min(truth.min(), *(np.min(v) for v in estimates.values()))
    hi = max(truth.max(), *(np.max(v) for v in estimates.values()))
    ax.plot([lo, hi], [lo, hi], color="0.5", linewidth=1, label="y = x")
    for (label, values), marker in zip(estimates.items(), markers):
        ax.scatter(truth, values, s=18, marker=marker, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)


def value_map(ax, X, values, title, label, cmap="viridis"):
    """2-D points coloured (and sized) by a per-example value, with a colour bar."""
    values = np.asarray(values)
    size = 10 + 120 * values / max(values.max(), 1e-12)
    sc = ax.scatter(X[:, 0], X[:, 1], c=values, s=size, cmap=cmap, edgecolors="0.3",
                    linewidths=0.3)
    ax.figure.colorbar(sc, ax=ax, label=label)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)


def image_row(axes, images, titles):
    """One 8×8 grey image per Axes, with a title each and no ticks."""
    for ax, img, title in zip(axes, images, titles):
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])


def probability_bars(ax, probs, classes, title="Class probabilities of the example"):
    """Grouped bars of class probabilities. probs: {label: (k,) probabilities}."""
    pos = np.arange(len(classes))
    width = 0.8 / len(probs)
    colors = (BEFORE_COLOR, MPE_COLOR, REFIT_COLOR, ALT_COLOR)
    for j, ((label, p), color) in enumerate(zip(probs.items(), colors)):
        ax.bar(pos - 0.4 + width * (j + 0.5), p, width=width, color=color, label=label)
    ax.set_xticks(pos, [str(c) for c in classes])
    ax.set_ylim(0, 1.15)                     # headroom: the legend sits above p = 1
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_xlabel("class")
    ax.set_ylabel("predicted probability")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper center", ncols=len(probs))


def png_bytes(canvas):
    """What an Agg canvas shows, as PNG bytes (an ipywidgets Image's value). Fast compression:
    the explorers re-encode on every pointer or slider event."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB").save(buf, format="png",
                                                                         compress_level=1)
    return buf.getvalue()


def png_output(canvas):
    """What an Agg canvas shows, as a Jupyter display_data output (base64 PNG) for an Output
    widget's state. Fast PNG compression: the widgets re-encode on every slider move."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB").save(buf, format="png",
                                                                         compress_level=1)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": data, "text/plain": "<figure>"}}
