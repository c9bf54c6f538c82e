"""Widget update latency, headless: call ``update`` with a new weight and time the MPE estimate,
the refit and the redraw (the PNG the browser receives). Target: median ≤ 100 ms for the
explorers of notebooks 1 and 3."""
import time

import numpy as np

from mpe_teach import widgets

TARGET_MS = 100.0


def _latencies(explorer, weights):
    times = []
    for w in weights:
        start = time.perf_counter()
        explorer.update(w)
        times.append(1000 * (time.perf_counter() - start))
    return np.array(times)


def run(quick=False):
    """Rows: section, quantity, measured (str), target (str), met (bool/None)."""
    weights = np.round(np.arange(0.0, 3.0001, 0.25 if quick else 0.05), 2)
    rows = []
    for label, factory in (("notebook 1: linear regression explorer", widgets.linear_regression_explorer),
                           ("notebook 3: logistic regression explorer", widgets.logistic_regression_explorer)):
        explorer = factory()
        explorer.update(0.5)                                  # warm-up
        ms = _latencies(explorer, weights)
        med = float(np.median(ms))
        rows.append({"section": "widgets", "quantity": f"{label}: update latency, median of {len(ms)}",
                     "measured": f"{med:.1f} ms (max {ms.max():.1f} ms)",
                     "target": f"<= {TARGET_MS:.0f} ms", "met": bool(med <= TARGET_MS)})
    return rows


if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
