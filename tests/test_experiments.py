"""The paper's experiments (mpe_teach.experiments) at tiny sizes, each checked against an
independent computation: train(), direct refits, the formulas written out with numpy, a hand
binning; and tools/paper.py --quick end to end."""
import importlib.util
import os
import warnings

import numpy as np
import pytest

from mpe_teach import experiments as E
from mpe_teach.mlp import MLP
from mpe_teach.mpe import PerturbationWarning
from mpe_teach.training import train

TINY = dict(n_train=60, hidden=(3,))


def softmax(f):
    z = np.exp(f - f.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def official_loo_by_hand(model, S):
    """The paper's formula written out: f_i + diag(J_i S⁻¹ J_iᵀ) ⊙ (p_i − y_i), its NLL (n,)."""
    J, f = model.jacobians(), model.train_outputs()
    v = np.einsum("nkp,pq,nkq->nk", J, np.linalg.inv(S), J)
    p = softmax(f)
    loo = softmax(f + v * (p - np.eye(f.shape[1])[model.y_]))
    return -np.log(loo[np.arange(len(f)), model.y_])


@pytest.mark.parametrize("name", ["adam", "von"])
def test_train_steps_equals_train_at_epoch_ends(name):
    data, model = E.digits_problem(**TINY)
    ref, hist = train(model, data.X_train, data.y_train, name, epochs=2, checkpoints=[1, 2],
                      X_test=data.X_test, y_test=data.y_test, progress=False)
    got, steps_hist, per_epoch = E.train_steps(model, data, name, epochs=2, steps=[1, 2, 3, 4])
    assert per_epoch == 2 and list(steps_hist["step"]) == [1, 2, 3, 4]
    np.testing.assert_allclose(steps_hist["epoch"], [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_array_equal(got.theta_, ref.theta_)
    np.testing.assert_allclose(steps_hist["loo_nll"][[1, 3]], hist["loo_nll"], rtol=1e-12)
    np.testing.assert_allclose(steps_hist["test_nll"][[1, 3]], hist["test_nll"], rtol=1e-12)
    with pytest.raises(ValueError, match="steps must lie in 0..4"):
        E.train_steps(model, data, name, epochs=2, steps=[5])


def test_log_steps_are_log_spaced_and_cover_training():
    s = E.log_steps(320, 12)
    assert s[0] == 1 and s[-1] == 320 and len(s) >= 8 and np.all(np.diff(s) > 0)
    ratios = s[1:] / s[:-1]
    assert ratios.max() < 2.5 * np.exp(np.log(320) / 11)


def test_exact_loo_matches_a_direct_refit_loop():
    data = E.digits(n_train=40)
    model = MLP(hidden=(3,), delta=1.0).fit(data.X_train, data.y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerturbationWarning)
        from mpe_teach.mpe import Sensitivity
        est = Sensitivity(model).loo_nll()
    res = E.exact_loo(model, n_rows=6, estimates={"mpe": est}, n_jobs=1, n_boot=200, progress=False)
    assert res["n_rows"] == 6 and res["n_failed"] == 0 and not res["all_rows"]
    direct = []
    for i in res["rows"]:
        w = model.weights_.copy()
        w[i] = 0.0
        direct.append(model.refit(w).nll(data.X_train[i:i + 1], data.y_train[i:i + 1])[0])
    np.testing.assert_allclose(res["exact_nll"], direct, rtol=1e-3, atol=1e-5)
    # the difference estimator: mean_all(est) − mean_rows(est − exact)
    gap = np.mean(est[res["rows"]] - np.array(direct))
    assert res["via"]["mpe"]["value"] == pytest.approx(est.mean() - gap, rel=1e-3)
    lo, hi = res["exact"]["ci"]
    assert lo <= res["exact"]["value"] <= hi
    assert res["plain"]["value"] == pytest.approx(np.mean(direct), rel=1e-3)
    # stratified: the 3 rows with the largest estimates in full, 4 random others scaled up
    strat = E.exact_loo(model, n_rows=4, n_top=3, estimates={"mpe": est}, n_jobs=1, n_boot=200,
                        progress=False)
    change = np.abs(est - model.nll(data.X_train, data.y_train))
    np.testing.assert_array_equal(np.sort(strat["top_rows"]), np.sort(np.argsort(-change)[:3]))
    exact = strat["exact_nll"]
    plain = (exact[:3].sum() + 37 * exact[3:].mean()) / 40
    assert strat["plain"]["value"] == pytest.approx(plain, rel=1e-12)
    # all rows: the mean is known exactly, the interval is a point and both estimators agree
    full = E.exact_loo(model, n_rows=None, estimates={"mpe": est}, n_jobs=1, progress=False)
    assert full["exact"]["ci"][0] == full["exact"]["ci"][1]
    assert full["exact"]["value"] == pytest.approx(full["plain"]["value"], rel=1e-12)


def test_loo_vs_test_on_a_step_axis_with_the_exact_check():
    res = E.loo_vs_test(optimizers=("adam",), epochs=2, n_steps=8, exact_rows=3, n_jobs=1,
                        n_boot=100, progress=False, **TINY)
    r = res["adam"]
    assert r["steps_per_epoch"] == 2 and list(r["step"]) == [1, 2, 3, 4]
    assert r["final_gap"] == pytest.approx(r["loo_nll"][-1] / r["test_nll"][-1] - 1)
    assert r["meets_final"] == (abs(r["final_gap"]) <= 0.25)
    e = r["exact"]
    assert e["polished_converged"] and e["n_rows"] == 3 and set(e["gap"]) == {"full GGN, finite form", "official"}
    old = E.loo_vs_test(optimizers=("adam",), epochs=2, checkpoints=(1, 2), progress=False, **TINY)
    np.testing.assert_allclose(old["adam"]["loo_nll"], r["loo_nll"][[1, 3]], rtol=1e-12)
    assert list(old["adam"]["step"]) == [2, 4]


def test_delta_sweep_official_formula_against_numpy():
    res = E.delta_sweep(deltas=(0.3, 3.0), exact_rows=3, n_jobs=1, n_boot=100, progress=False, **TINY)
    data = E.digits(n_train=60)
    for j, delta in enumerate(res["delta"]):
        model = MLP(hidden=(3,), delta=delta).fit(data.X_train, data.y_train)
        S = model.ggn() + delta * np.eye(model.theta_.size)
        assert res["official_nll"][j] == pytest.approx(official_loo_by_hand(model, S).mean(), rel=1e-6)
    assert res["exact_nll"].shape == (2,) and res["gap_ours_ci"].shape == (2, 2)
    assert res["best_by_official"] in res["delta"] and res["grid_steps_apart_official"] in (0, 1)


def test_loco_paper_estimate_and_truth_by_hand():
    res = E.loco(budgets=(1,), n_jobs=1, n_boot=100, progress=False, **TINY)
    data, model = E.digits_problem(**TINY)
    model.fit(data.X_train, data.y_train)
    S = model.ggn() + model.delta * np.eye(model.theta_.size)
    per_example = official_loo_by_hand(model, S)
    for c in (0, 7):
        assert res["paper"][c] == pytest.approx(per_example[data.y_train == c].mean(), rel=1e-6)
    w = model.weights_ * (data.y_train != 3)
    truth = model.refit(w)
    assert res["converged_test_nll"][3] == pytest.approx(truth.nll(data.X_test, data.y_test).mean(), rel=1e-4)
    on3 = data.y_test == 3
    assert res["converged_class_test_nll"][3] == pytest.approx(truth.nll(data.X_test[on3], data.y_test[on3]).mean(), rel=1e-4)
    acc = np.mean(truth.predict(data.X_test) == data.y_test)
    assert res["converged_accuracy_drop"][3] == pytest.approx(res["base_test_accuracy"] - acc, abs=1e-12)
    assert res["budget_test_nll"].shape == (1, 10)
    for rho in res["spearman"].values():
        assert -1 <= rho["ci"][0] <= rho["ci"][1] <= 1


def test_spearman_ci_with_a_mask_is_the_masked_mean():
    rng = np.random.default_rng(0)
    per_image = rng.random((4, 30))
    mask = rng.random((4, 30)) < 0.5
    est = np.array([0.1, 0.4, 0.2, 0.3])
    from scipy.stats import spearmanr
    means = [per_image[j, mask[j]].mean() for j in range(4)]
    got = E.spearman_ci(est, per_image, n_boot=50, mask=mask)
    assert got["value"] == pytest.approx(spearmanr(est, means)[0])


def test_memory_maps_binning_and_the_papers_sensitivity_by_hand():
    res = E.memory_maps(epochs=2, n_checkpoints=2, n_samples=10, n_bins=10, n_per_class=1,
                        n_train=100, hidden=(3,))
    final = res["sensitivity"][-1]
    ranking = np.argsort(final)[::-1]
    # the paper's plot script: np.mean(sensitivity[ranking].reshape(numbins, -1), axis=1)
    for s, row in zip(res["sensitivity"], res["binned"]):
        np.testing.assert_allclose(row, s[ranking].reshape(10, -1).mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(res["share_below_5pct"],
                               [(s < 0.05 * s.max()).mean() for s in res["sensitivity"]])
    assert res["most_images"].shape == (10, 1, 8, 8)
    assert all(final[res["most"][c, 0]] >= final[res["least"][c, 0]] for c in range(10))

    # Σ_k |ē λ v| by hand at a fitted model with a diagonal precision, ē by a separate Monte Carlo
    data = E.digits(n_train=60)
    model = MLP(hidden=(3,), delta=1.0).fit(data.X_train, data.y_train)
    s = np.full(model.theta_.size, 40.0)
    J, f = model.jacobians(), model.train_outputs()
    v = np.einsum("nkp,p->nk", J ** 2, 1 / s)
    p = softmax(f)
    draws = f[:, None, :] + np.sqrt(v)[:, None, :] * np.random.default_rng(99).standard_normal((60, 4000, 10))
    e_bar = softmax(draws).mean(axis=1) - np.eye(10)[model.y_]
    by_hand = np.abs(e_bar * p * (1 - p) * v).sum(axis=1)
    got = E.paper_sensitivities(model, s, n_samples=4000)
    np.testing.assert_allclose(got, by_hand, rtol=0.03, atol=1e-4 * by_hand.max())


def test_paper_quick_writes_every_figure_and_one_report_row_each(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "paper", os.path.join(os.path.dirname(__file__), "..", "tools", "paper.py"))
    paper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(paper)
    paper.run(tmp_path, quick=True)
    report = (tmp_path / "report.md").read_text()
    summary = report.split("## ")[0]
    for fig in ("Fig 1b/5", "Fig 2", "Fig 3a", "Fig 3b", "Fig 4"):
        rows = [line for line in summary.splitlines() if line.startswith(f"| {fig} ")]
        assert len(rows) == 1, fig
        assert any(word in rows[0] for word in ("| yes", "| partly", "| no"))
    for name in ("fig1b_loo_during_training", "fig2_deviations", "fig3a_loco", "fig3b_memory",
                 "fig3b_images", "fig4_delta"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
