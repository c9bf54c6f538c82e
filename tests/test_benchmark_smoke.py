"""The benchmark runs end to end at tiny sizes and writes the table it promises.

No timing is asserted: only that every row is present and well formed, and that the accuracy
rows (which compare against scikit-learn and statsmodels) hold even at tiny sizes.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"

# The rows of the core section, in order (sizes appear in the "problem" rows' measured column).
CORE_ROWS = [
    "linear LOO: problem",
    "linear LOO: fit time (LinearRegression.fit)",
    "linear LOO: MPE time (Sensitivity + loo_outputs, all n)",
    "linear LOO: RidgeCV LOO time (all n)",
    "linear LOO: time ratio MPE / RidgeCV",
    "linear LOO: max |MPE − RidgeCV| LOO prediction",
    "linear end to end: fit + all-n LOO outputs time",
    "linear end to end: time ratio (fit + MPE LOO) / RidgeCV fit with LOO",
    "linear end to end: max |MPE − RidgeCV| LOO prediction",
    "logistic: problem",
    "logistic: fit time (Newton, cached Cholesky)",
    "logistic: MPE time (Sensitivity + param_changes(0), all n)",
    "logistic: statsmodels GLM fit + params_one time",
    "logistic: time ratio MPE / statsmodels (fit + params_one)",
    "logistic: time ratio MPE / statsmodels params_one alone (fitted GLM given)",
    "logistic: max |MPE − statsmodels params_one|",
    "logistic: brute-force refit time per example",
    "logistic: speed-up MPE vs brute-force refits (extrapolated to n)",
    "logistic: one Newton step time (gradient + GGN + Cholesky + solve)",
    "logistic: time ratio MPE / one Newton step",
    "logistic: max |one-step Δθ − exact refit Δθ| (refit sample)",
    "MLP digits: problem",
    "MLP digits: fit time",
    "MLP digits: all-n full-GGN V_i time (Sensitivity + variances_)",
    "MLP digits: Pearson r, estimated vs true Δf_i (refit without i)",
    "MLP digits: max |estimated − true Δf_i| / max |true Δf_i|",
    "MLP digits: refit tolerance achieved (max over refits of max|∇L| / gradient scale)",
    "MLP digits: refit time per example, warm start θ*",
    "MLP digits: refit time per example, warm start θ* + Δθ (the MPE)",
    "MLP digits: speed-up of the MPE warm start (same tolerance)",
    "MLP digits: max |f_i from θ* start − f_i from MPE start|",
]
WITH_TARGET = {
    "linear LOO: time ratio MPE / RidgeCV": "≤ 0.5×",
    "linear LOO: max |MPE − RidgeCV| LOO prediction": "≤ 1e-8",
    "linear end to end: time ratio (fit + MPE LOO) / RidgeCV fit with LOO": "≤ 0.5×",
    "linear end to end: max |MPE − RidgeCV| LOO prediction": "≤ 1e-8",
    "logistic: time ratio MPE / statsmodels (fit + params_one)": "≤ 0.3×",
    "logistic: max |MPE − statsmodels params_one|": "≤ 1e-8",
    "logistic: speed-up MPE vs brute-force refits (extrapolated to n)": "≥ 1000×",
    "logistic: time ratio MPE / one Newton step": "≤ 1.5×",
    "MLP digits: fit time": "≤ 5 s",
    "MLP digits: all-n full-GGN V_i time (Sensitivity + variances_)": "≤ 10 s",
    "MLP digits: speed-up of the MPE warm start (same tolerance)": "≥ 2×",
}


def parse_table(text):
    """Markdown table rows → list of dicts (cells split on unescaped '|')."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| section") or line.startswith("|---"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append(dict(zip(["section", "quantity", "measured", "target", "met"], cells)))
    return rows


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "benchmark.md"
    proc = subprocess.run([sys.executable, str(RUN), "--quick", "--only", "core", "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out.read_text(), proc.stdout


def test_quick_run_writes_the_core_table(quick_run):
    text, stdout = quick_run
    assert text.strip() in stdout            # the same table is printed
    rows = parse_table(text)
    assert [r["quantity"] for r in rows] == CORE_ROWS
    assert all(r["section"] == "core" for r in rows)
    for r in rows:
        assert r["met"] in ("yes", "**NO**", "—"), r
        assert r["measured"], r
        expected_target = WITH_TARGET.get(r["quantity"], "—")
        assert r["target"] == expected_target, r
        assert (r["met"] == "—") == (expected_target == "—"), r


def test_quick_run_accuracy_rows_hold(quick_run):
    """Both exact comparisons agree to rounding even at tiny sizes (they are size-independent)."""
    rows = {r["quantity"]: r for r in parse_table(quick_run[0])}
    for name in ("linear LOO: max |MPE − RidgeCV| LOO prediction",
                 "linear end to end: max |MPE − RidgeCV| LOO prediction",
                 "logistic: max |MPE − statsmodels params_one|"):
        assert float(rows[name]["measured"]) <= 1e-8, rows[name]
        assert rows[name]["met"] == "yes"
    r = float(rows["MLP digits: Pearson r, estimated vs true Δf_i (refit without i)"]["measured"].split()[0])
    assert -1.0 <= r <= 1.0


def test_unknown_section_is_rejected():
    proc = subprocess.run([sys.executable, str(RUN), "--only", "nonsense"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "unknown section 'nonsense'" in proc.stderr
