"""The picture that goes with the CLI's report (``mpe-teach sensitivity … --plot FILE.png``).

Like ``plots.py`` it only draws: every number comes in as an array computed by the library
(``Sensitivity.report()``, ``truth.loo_refits``). It uses matplotlib's object API with the Agg
canvas (no pyplot, no display, no global state), and returns PNG bytes for the caller to write
through ``safeio.write_atomic(..., binary=True)``.

Panels: the sensitivity of every row against its prediction error |e_i| and against its
prediction variance v_i — the MPE says Δf_i ≈ −v_i e_i, so the rows far right in both panels
move the model most — and, when rows were retrained, the estimated against the retrained
leave-one-out output f_i^{\\i} with the line y = x.
"""
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

TITLE = "Rows the model is wrong AND uncertain about move it most"
N_LABELLED = 10            # the most sensitive rows are labelled with their row index
LOG_SPAN = 100.0           # a log axis when the positive values span max/min ≥ this
FLOOR = 1e-4               # on a log axis, values below FLOOR × the largest are drawn at it
TOP_COLOR, REST_COLOR, LINE_COLOR = "crimson", "tab:blue", "0.35"
OUTPUT_COLORS = ("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:olive", "tab:cyan",
                 "tab:pink", "tab:gray")            # one per output (never the labels' red)
LOO = r"$f_i^{\backslash i}$"


def sensitivity_figure(sensitivity, abs_error, variance, labels=None, loo_est=None, loo_true=None,
                       truth_labels=None, subtitle=None, n_labelled=N_LABELLED,
                       error_label="prediction error $|e_i|$", variance_label="prediction variance $v_i$"):
    """The report's figure (a matplotlib Figure on an Agg canvas).

    sensitivity, abs_error, variance: (n,) per training row; labels: (n,) names of the rows
    (default 0..n−1). loo_est, loo_true: (m,) or (m, k) estimated and retrained f^{\\i} for the
    m retrained rows, named by truth_labels (m,); NaN where a refit did not converge. Two
    panels, or three with the truth. subtitle: plain text (a file or column name; "$" is kept)."""
    sensitivity, abs_error, variance = (np.asarray(a, dtype=float).ravel()
                                        for a in (sensitivity, abs_error, variance))
    n = len(sensitivity)
    labels = np.arange(n) if labels is None else np.asarray(labels)
    top = np.argsort(-np.nan_to_num(sensitivity, nan=-np.inf), kind="stable")[:min(n_labelled, n)]
    rest = np.setdiff1d(np.arange(n), top)
    with_truth = loo_est is not None and loo_true is not None
    fig = Figure(figsize=(17 if with_truth else 12, 5.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3 if with_truth else 2)
    y, y_note = _scale(axes[0], "y", sensitivity)
    to_label = []
    for ax, values, xlabel, what in ((axes[0], abs_error, error_label, "how wrong the model is on the row"),
                                     (axes[1], variance, variance_label, "how uncertain it is about the row")):
        x, x_note = _scale(ax, "x", values)
        if ax is axes[1]:
            _scale(ax, "y", sensitivity)
        ax.scatter(x[rest], y[rest], s=14, color=REST_COLOR, alpha=0.5, linewidths=0,
                   label="a training row")
        ax.scatter(x[top], y[top], s=32, color=TOP_COLOR, zorder=3,
                   label=f"the {len(top)} most sensitive rows, labelled with their row number")
        to_label.append((ax, x[top], y[top], labels[top]))
        ax.set_xlabel(f"{xlabel}: {what}{x_note}")
        ax.set_ylabel("sensitivity: how far the row's own prediction\nmoves when it is left out" + y_note)
        ax.margins(0.08)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_title("Sensitivity against error")
    axes[1].set_title("Sensitivity against variance")
    if with_truth:
        to_label += _truth_panel(axes[2], loo_est, loo_true, truth_labels, set(labels[top].tolist()))
    handles = [h for ax in axes for h in ax.get_legend_handles_labels()[0]]
    names = [t for ax in axes for t in ax.get_legend_handles_labels()[1]]
    unique = dict(zip(names, handles))
    fig.legend(unique.values(), unique.keys(), loc="outside lower center", ncols=len(unique),
               fontsize=9, frameon=False)
    plain = "" if not subtitle else "\n" + subtitle.replace("$", r"\$")    # text, never mathtext
    fig.suptitle(TITLE + plain, fontsize=13)
    fig.canvas.draw()                      # lay out once, then freeze it and place the labels
    fig.set_layout_engine("none")
    for ax, x, y, names in to_label:
        _label_points(ax, x, y, names)
    return fig


def _truth_panel(ax, est, true, names, labelled):
    """Estimated against retrained f^{\\i}, one point per retrained row (and output); returns
    the points to label (those of the labelled rows)."""
    est, true = np.asarray(est, dtype=float), np.asarray(true, dtype=float)
    est, true = est.reshape(len(est), -1), true.reshape(len(true), -1)
    names = np.arange(len(est)) if names is None else np.asarray(names)
    ok = np.all(np.isfinite(true), axis=1)
    k = est.shape[1]
    for c in range(k):
        ax.scatter(true[ok, c], est[ok, c], s=22, color=OUTPUT_COLORS[c % len(OUTPUT_COLORS)],
                   zorder=3, label="a retrained row" if k == 1 else f"a retrained row, output {c}")
    values = np.concatenate([est[ok].ravel(), true[ok].ravel()])
    points = []
    if values.size:
        lo, hi = values.min(), values.max()
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=LINE_COLOR, linewidth=1,
                linestyle="--", label="y = x: estimate = retraining", zorder=2)
        shown = [a for a in np.flatnonzero(ok) if names[a] in labelled]
        if shown:
            j = np.argmax(np.abs(est[shown] - true[shown]), axis=1)   # the output furthest off
            points.append((ax, true[shown, j], est[shown, j], names[shown]))
    failed = int((~ok).sum())
    ax.set_xlabel("retrained: row i's output from the model refitted without row i")
    ax.set_ylabel("estimated by the MPE, without retraining")
    ax.set_title(f"Leave-one-out output {LOO}: estimate against retraining\n({int(ok.sum())} rows"
                 + (f"; {failed} refits did not converge" if failed else "") + ")", fontsize=11)
    ax.grid(True, alpha=0.3)
    return points


def _scale(ax, axis, values):
    """A log axis when the positive values span LOG_SPAN or more. Values below FLOOR × the
    largest (zeros too) are drawn at that floor, which the returned note says; returns
    (the values to draw, the note for the axis label)."""
    v = np.asarray(values, dtype=float)
    positive = v[np.isfinite(v) & (v > 0)]
    if positive.size == 0 or positive.max() / positive.min() < LOG_SPAN:
        return v, ""
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    floor = max(positive.min(), FLOOR * positive.max())
    below = int(np.sum(np.isfinite(v) & (v < floor)))
    note = f"\n({below} rows below {floor:.0e} are drawn at {floor:.0e})" if below else ""
    return np.where(np.isfinite(v), np.maximum(v, floor), v), note


def _label_points(ax, x, y, names, fontsize=8):
    """Row numbers next to their points: each label takes the first place around its point
    (nearest first) that overlaps no label placed before it, no labelled point and no leader
    line, whose own line crosses no other, and that stays inside the axes; a label placed
    further away gets a thin line to its point."""
    to_px = ax.figure.dpi / 72.0
    xy = ax.transData.transform(np.column_stack([x, y]))
    box = ax.get_window_extent()
    finite = np.all(np.isfinite(xy), axis=1)
    markers = [(px - 4 * to_px, py - 4 * to_px, px + 4 * to_px, py + 4 * to_px) for px, py in xy[finite]]
    labels, lines = [], []                 # rectangles of placed labels; their leader lines
    gap = 0.5 * fontsize * to_px           # free space kept between two labels
    for (px, py), xd, yd, name, ok in zip(xy, x, y, names, finite):
        if not ok:
            continue
        text = str(name)
        w, h = _text_size(ax, text, fontsize)
        best = None
        for radius in (6, 14, 24, 36, 50, 65, 80, 100, 130):
            for angle in (30, -30, 90, -90, 150, -150, 0, 180, 60, -60, 120, -120):
                dx = radius * np.cos(np.radians(angle)) * to_px
                dy = radius * np.sin(np.radians(angle)) * to_px
                left = px + dx if dx > 1e-9 else px + dx - w if dx < -1e-9 else px + dx - w / 2
                bottom = py + dy if dy > 1e-9 else py + dy - h if dy < -1e-9 else py + dy - h / 2
                rect = (left, bottom, left + w, bottom + h)
                line = ((px, py), ((left + w / 2), (bottom + h / 2))) if radius > 6 else None
                inside = (rect[0] >= box.x0 + 2 and rect[2] <= box.x1 - 2 and rect[1] >= box.y0 + 2
                          and rect[3] <= box.y1 - 2)
                spaced = (rect[0] - gap, rect[1] - gap, rect[2] + gap, rect[3] + gap)
                # illegible text costs most (two labels overlapping, or "271" "75" read as
                # "27175"), then a line through a label, a label on a marker, crossing lines
                cost = (100 * sum(_overlap(spaced, other) for other in labels)
                        + 1e4 * sum(_crosses(seg, rect) for seg in lines)
                        + (1e4 * sum(_crosses(line, other) for other in labels) if line else 0)
                        + 10 * sum(_overlap(rect, other) for other in markers)
                        + (1e3 * sum(_intersect(line, seg) for seg in lines) if line else 0)
                        + (0 if inside else 1e9) + radius * 1e-3)
                if best is None or cost < best[0]:
                    best = (cost, rect, line)
            if best[0] < 1:
                break
        _, rect, line = best
        labels.append(rect)
        if line is not None:
            lines.append(line)
        centre = ((rect[0] + rect[2]) / 2 - px) / to_px, ((rect[1] + rect[3]) / 2 - py) / to_px
        ax.annotate(text, (xd, yd), xytext=centre, textcoords="offset points",   # dpi-independent
                    ha="center", va="center", fontsize=fontsize, color=TOP_COLOR, zorder=4,
                    annotation_clip=False,     # a white box: legible over points, ends the line
                    bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.8),
                    arrowprops=None if line is None else dict(arrowstyle="-", color=TOP_COLOR,
                                                              linewidth=0.6, shrinkA=0, shrinkB=3))


def _intersect(a, b):
    """Whether two line segments ((x0, y0), (x1, y1)) cross."""
    def side(p, q, r):
        return np.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))
    (p1, p2), (q1, q2) = a, b
    return bool(side(p1, p2, q1) * side(p1, p2, q2) < 0 and side(q1, q2, p1) * side(q1, q2, p2) < 0)


def _text_size(ax, text, fontsize):
    """Width and height in pixels of a label with its box (measured with the figure's renderer)."""
    probe = ax.text(0, 0, text, fontsize=fontsize)
    extent = probe.get_window_extent(ax.figure.canvas.get_renderer())
    probe.remove()
    pad = 0.25 * fontsize * ax.figure.dpi / 72.0
    return extent.width + 2 * pad, extent.height + 2 * pad


def _crosses(segment, rect, samples=24):
    """Whether a line segment ((x0, y0), (x1, y1)) passes through a rectangle (by sampling)."""
    (x0, y0), (x1, y1) = segment
    t = np.linspace(0.15, 0.85, samples)       # the ends sit at a marker and inside the label
    xs, ys = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    return bool(np.any((xs > rect[0]) & (xs < rect[2]) & (ys > rect[1]) & (ys < rect[3])))


def _overlap(a, b):
    """The area two rectangles (x0, y0, x1, y1) share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def png_bytes(fig, dpi=110):
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
