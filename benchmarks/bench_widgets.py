"""Explorer latency, headless: each control driven from Python as the browser's event would
drive it (the MPE estimate, the refit, the redraw and the PNG the browser receives), median and
90th percentile per control. Targets: median <= 100 ms for every control of the GLM explorers
(notebooks 1 and 4), <= 1 s per update for the DigitExplorer on the 64-32-10 digits MLP.
The browser's own numbers (event to settled readout, JupyterLab + Chromium) are written by the
browser test to build/screenshots/latency.md."""
import time

import numpy as np

from mpe_teach import datasets, widgets
from mpe_teach.mlp import MLP
from mpe_teach.mpe import Sensitivity

GLM_TARGET_MS = 100.0
MLP_TARGET_MS = 1000.0


def _times(actions):
    """Milliseconds for each call in ``actions`` (a list of zero-argument callables)."""
    out = []
    for act in actions:
        start = time.perf_counter()
        act()
        out.append(1000 * (time.perf_counter() - start))
    return np.array(out)


def _row(label, ms, target):
    med, p90 = float(np.median(ms)), float(np.percentile(ms, 90))
    return {"section": "widgets", "quantity": f"{label} (n = {len(ms)})",
            "measured": f"median {med:.0f} ms, 90th percentile {p90:.0f} ms",
            "target": f"median <= {target:.0f} ms", "met": bool(med <= target)}


def plane_controls(ex, repeats):
    """One list of actions per control of a PlaneExplorer, as a learner would use them."""
    rng = np.random.default_rng(0)
    P = ex.plane_points()
    lo, hi = P.min(axis=0), P.max(axis=0)
    n = len(P)
    points = rng.choice(n, size=repeats, replace=n < repeats)
    spots = lo + rng.random((repeats, 2)) * (hi - lo)
    deltas = [d for d in ex.delta_slider.options]
    label = (lambda j: j % 2) if ex.label is not None else (lambda j: None)
    return {
        "weight slider": [lambda w=w: ex.update(w) for w in np.round(rng.uniform(0, 3, repeats) / 0.05) * 0.05],
        "click a point (select)": [lambda j=j: ex.select(int(j)) for j in points],
        # one drag: a point pulled along a straight path, one pointer event per step
        "drag a point (move, per pointer event)": [
            lambda t=t: ex.move(int(points[0]), P[points[0]] + t * (spots[0] - P[points[0]]))
            for t in np.linspace(1 / repeats, 1, repeats)],
        "click to add a point": [lambda xy=xy, j=j: ex.add(xy, label(j))
                                 for j, xy in enumerate(spots)],
        "δ slider (refit + sensitivities + field)": [lambda d=deltas[j % len(deltas)][1]: ex.set(delta=d)
                                                     for j in range(repeats)],
        "finite / first-order toggle": [lambda m=("influence", "mpe")[j % 2]: ex.set(method=m)
                                        for j in range(repeats)],
        "sensitivity field switch": [lambda f=bool(j % 2): ex.set(field=f) for j in range(repeats)],
    }


def run(quick=False):
    """Rows: section, quantity, measured (str), target (str), met (bool/None)."""
    repeats = 4 if quick else 30
    rows = []
    for name, factory in (("notebook 1, linear regression explorer", widgets.linear_regression_explorer),
                          ("notebook 4, logistic regression explorer", widgets.logistic_regression_explorer)):
        ex = factory()
        ex.update(0.5)                                               # warm-up
        for control, actions in plane_controls(ex, repeats).items():
            rows.append(_row(f"{name}: {control}", _times(actions), GLM_TARGET_MS))
        ex.set(delta=1.0 if "logistic" in name else 0.0, method="mpe", field=True)
        if ex.label is not None:
            ms = _times([lambda j=j: ex.set(label=j % 2) for j in range(repeats)])
            rows.append(_row(f"{name}: new point's class", ms, GLM_TARGET_MS))
    # the 64-32-10 MLP on the digits (the model of the core benchmark), its most sensitive images
    data = datasets.digits(n_train=200 if quick else 500, seed=0)
    mlp = MLP(hidden=(8,) if quick else (32,), delta=1.0, seed=0).fit(data.X_train, data.y_train)
    order = np.argsort(Sensitivity(mlp).sensitivities())[::-1]
    weights = [0.0, 0.5, 2.0] if quick else [0.0, 0.25, 0.5, 1.5, 2.0, 3.0]
    ms = []
    for i in order[:2 if quick else 5]:
        ex = widgets.DigitExplorer(mlp, int(i))
        ms += list(_times([lambda w=w: ex.update(w) for w in weights]))
    rows.append(_row("notebook 5, DigitExplorer on the digits MLP 64-32-10: weight slider "
                     "(refit from the MPE's prediction)", np.array(ms), MLP_TARGET_MS))
    return rows


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
