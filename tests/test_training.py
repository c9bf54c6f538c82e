"""Optimisers that expose their precision, and the training loop that reads the MPE off them."""
import numpy as np
import pytest

from mpe_teach import LinearRegression, LogisticRegression, MLP, Sensitivity, train
from mpe_teach.datasets import two_moons
from mpe_teach.optim import OPTIMIZERS, batch_gradient, make_optimizer
from mpe_teach.training import prepare


@pytest.fixture(scope="module")
def moons():
    return two_moons(n=60, seed=0, n_test=60)


def test_newton_after_convergence_equals_core_sensitivity(moons):
    ref = LogisticRegression(delta=1.0).fit(moons.X_train, moons.y_train)
    model, hist = train(LogisticRegression(delta=1.0), moons.X_train, moons.y_train, "newton",
                        epochs=15, X_test=moons.X_test, y_test=moons.y_test, progress=False)
    np.testing.assert_allclose(model.theta_, ref.theta_, atol=1e-8)
    core = Sensitivity(ref, "full")
    np.testing.assert_allclose(hist[-1]["sensitivities"], core.sensitivities(), atol=1e-8)
    np.testing.assert_allclose(hist[-1]["loo_nll"], core.loo_loss(), rtol=1e-8)
    np.testing.assert_allclose(hist[-1]["test_nll"], ref.nll(moons.X_test, moons.y_test).mean(), rtol=1e-8)


def test_online_newton_full_batch_rate_one_is_exact_for_linear_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=25)
    w = rng.uniform(0.5, 2.0, 25)
    ref = LinearRegression(delta=0.3).fit(X, y, weights=w)
    model, hist = train(LinearRegression(delta=0.3), X, y, "online_newton", epochs=1, lr=1.0,
                        batch_size=25, weights=w, progress=False)
    np.testing.assert_allclose(model.theta_, ref.theta_, atol=1e-10)
    # exact LOO for linear regression: closed form (y_i − f_i)/(1 − h_ii) with h the weighted hat
    Phi = np.hstack([np.ones((25, 1)), X])
    S = Phi.T @ (w[:, None] * Phi) + 0.3 * np.eye(4)
    v = np.einsum("ij,jk,ik->i", Phi, np.linalg.inv(S), Phi)
    resid = y - Phi @ ref.theta_
    # a running estimate is an approximate precision: the record uses the first-order form,
    # f_i^{\i} ≈ f_i + w_i v_i e_i, i.e. the residual grows by (1 + w_i v_i) ...
    np.testing.assert_allclose(hist[-1]["loo_nlls"], 0.5 * (resid * (1 + w * v))**2, rtol=1e-8)
    # ... and the finite form with the same (here exact) precision gives the exact LOO
    sens = Sensitivity(model, model.optimizer_.precision(model))
    np.testing.assert_allclose(sens.loo_nll("mpe"), 0.5 * (resid / (1 - w * v))**2, rtol=1e-8)


def test_diagonal_optimisers_agree_with_full_on_a_diagonal_problem():
    # orthogonal, centred features and no intercept: the GGN Σ_i x_i x_iᵀ is diagonal
    X = np.linalg.qr(np.random.default_rng(1).normal(size=(20, 3)))[0] * [3.0, 2.0, 1.0]
    y = X @ [1.0, 2.0, -1.0] + 0.1
    kw = dict(epochs=3, batch_size=20, lr=1.0, progress=False)
    m_full, h_full = train(LinearRegression(delta=0.5, fit_intercept=False), X, y, "online_newton", **kw)
    m_diag, h_diag = train(LinearRegression(delta=0.5, fit_intercept=False), X, y, "online_newton_diag", **kw)
    np.testing.assert_allclose(np.diag(m_full.optimizer_.S), m_diag.optimizer_.S, rtol=1e-12)
    np.testing.assert_allclose(m_full.theta_, m_diag.theta_, atol=1e-12)
    np.testing.assert_allclose(h_full[-1]["loo_nlls"], h_diag[-1]["loo_nlls"], rtol=1e-10)
    fitted = LinearRegression(delta=0.5, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(Sensitivity(fitted, "diag").variances_, Sensitivity(fitted, "full").variances_,
                               rtol=1e-10)


def test_minibatch_gradients_are_unbiased_and_honour_weights(moons):
    w = np.r_[np.zeros(10), np.ones(50) * 1.5]
    model = prepare(MLP(hidden=(4,), head="logistic", delta=0.5), moons.X_train, moons.y_train, w)
    model.theta_ = model.theta_ + 0.1
    batches = np.array_split(np.random.default_rng(0).permutation(60), 6)
    avg = np.mean([batch_gradient(model, model.theta_, b) for b in batches], axis=0)
    np.testing.assert_allclose(avg, model.gradient(model.theta_), rtol=1e-10, atol=1e-12)
    # weight-0 examples have no effect on training: same result as dropping them
    a, _ = train(LogisticRegression(delta=1.0), moons.X_train, moons.y_train, "newton", epochs=12,
                 weights=w, progress=False)
    b, _ = train(LogisticRegression(delta=1.0), moons.X_train[10:], moons.y_train[10:], "newton",
                 epochs=12, weights=w[10:], progress=False)
    np.testing.assert_allclose(a.theta_, b.theta_, atol=1e-9)


def test_adam_precision_is_n_sqrt_vhat_plus_delta(moons):
    model, _ = train(LogisticRegression(delta=2.0), moons.X_train, moons.y_train, "adam", epochs=1,
                     batch_size=60, progress=False)
    # one full-batch step: v̂ = (∇L/N)², so N·√v̂ + δ = |∇L(θ_0)| + δ, with ∇L from the analytic Jacobians
    start = prepare(LogisticRegression(delta=2.0), moons.X_train, moons.y_train)
    np.testing.assert_allclose(model.optimizer_.precision(model), np.abs(start.gradient()) + 2.0, rtol=1e-12)


def test_sgd_identity_precision_gives_jjt(moons):
    model, hist = train(LogisticRegression(delta=1.0), moons.X_train, moons.y_train, "sgd", epochs=2,
                        precision="identity", progress=False)
    s = Sensitivity(model, np.ones(model.n_params_))
    J = model.jacobians()
    np.testing.assert_allclose(s.variances_, np.einsum("nkp,nlp->nkl", J, J), rtol=1e-12)
    np.testing.assert_allclose(hist[-1]["sensitivities"], s.sensitivities(), rtol=1e-12)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "von", "sgd", "online_newton_diag"])
def test_first_order_methods_approach_the_optimum_and_its_loo(moons, name):
    ref = LogisticRegression(delta=1.0).fit(moons.X_train, moons.y_train)
    lr = {"adam": 0.05, "rmsprop": 0.03, "von": 0.05, "sgd": 0.2, "online_newton_diag": 0.3}[name]
    model, hist = train(LogisticRegression(delta=1.0), moons.X_train, moons.y_train, name, epochs=60,
                        batch_size=10, lr=lr, X_test=moons.X_test, y_test=moons.y_test,
                        checkpoints=[0, 60], progress=False)
    # coarse: within 5% of the optimal objective and of the optimum's (full-GGN) LOO estimate
    assert model.objective(model.theta_) <= 1.05 * ref.objective(ref.theta_)
    assert hist["loo_nll"][-1] == pytest.approx(Sensitivity(ref).loo_loss(), rel=0.25)
    assert list(hist["epoch"]) == [0, 60]
    assert hist[-1]["sensitivities"].shape == (60,)
    if name == "von":
        assert np.all(model.optimizer_.h > 0)


def test_seeds_make_training_reproducible(moons):
    runs = [train(MLP(hidden=(4,), delta=1.0), moons.X_train, moons.y_train, "von", epochs=2,
                  seed=s, progress=False)[0].theta_ for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_bad_names_and_options_list_the_valid_ones(moons):
    X, y = moons.X_train, moons.y_train
    with pytest.raises(ValueError, match="valid: .*'adam'.*'von'"):
        train(LogisticRegression(), X, y, "adamw", progress=False)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['momentum'\].*valid: \['lr', 'beta1'"):
        train(LogisticRegression(), X, y, "adam", momentum=0.9, progress=False)
    with pytest.raises(ValueError, match="precision must be one of"):
        make_optimizer("sgd", precision="kfac")
    with pytest.raises(ValueError, match="checkpoint"):
        train(LogisticRegression(), X, y, "adam", epochs=3, checkpoints=[5], progress=False)
    with pytest.raises(ValueError, match="full batch"):
        train(LogisticRegression(), X, y, "newton", batch_size=8, progress=False)
    with pytest.raises(ValueError, match="lr"):
        train(LogisticRegression(), X, y, "sgd", lr=-1.0, progress=False)
    assert sorted(OPTIMIZERS) == ["adam", "newton", "online_newton", "online_newton_diag", "rmsprop",
                                  "sgd", "von"]


def test_experiments_and_plots_run_on_a_tiny_problem():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpe_teach import experiments as E, training_plots as P
    tiny = dict(n_train=100, hidden=(4,), epochs=2)
    r1 = E.loo_vs_test(optimizers=("adam", "sgd"), checkpoints=(1, 2), **tiny)
    assert list(r1["adam"]["epoch"]) == [1, 2]
    r2 = E.deviations_vs_refit(n_refits=3, n_train=60, hidden=(3,), n_jobs=1, progress=False)
    assert set(r2["pearson_r"]) == {"full", "diag", "kfac", "last_layer"} and r2["true"].shape == (3,)
    assert np.isfinite(r1["sgd"]["final_loo_full_ggn"]) and r1["sgd"]["test_nll_se"] > 0
    r3 = E.delta_sweep(deltas=(0.1, 1.0), n_train=100, hidden=(4,), progress=False)
    assert r3["grid_steps_apart"] in (0, 1) and r3["loo_nll"].shape == (2,)
    r4 = E.leave_one_class_out(n_train=100, hidden=(4,))
    assert r4["estimated"].shape == (10,) and np.all(np.isfinite(r4["retrained_test_nll"]))
    assert set(r4["spearman_all"]) == {"estimated", "estimated_first_order", "estimated_one_step"}
    # removing a class must raise the NLL on its own training images, in truth and as estimated
    assert np.all(r4["retrained_train_nll"] > 1.0) and np.all(r4["estimated"] > r4["estimated_first_order"])
    r5 = E.evolving_sensitivities(history=r1["adam"]["history"], data=E.digits(n_train=100), n_per_class=1)
    assert r5["most_images"].shape == (10, 1, 8, 8)
    assert np.all(np.diff(r5["sorted"], axis=1) <= 0)
    for fig in (P.plot_loo_vs_test(r1), P.plot_deviations_vs_refit(r2), P.plot_delta_sweep(r3),
                P.plot_leave_one_class_out(r4), P.plot_sorted_sensitivities(r5), P.plot_memory_images(r5)):
        assert fig.axes[0].get_title() or fig._suptitle is not None
        plt.close(fig)


def test_cosine_schedule_decays_the_rate_and_restores_it(moons):
    X, y = moons.X_train, moons.y_train
    const, _ = train(LogisticRegression(delta=1.0), X, y, "sgd", epochs=1, batch_size=60, lr=0.2,
                     lr_schedule="constant", progress=False)
    cos, _ = train(LogisticRegression(delta=1.0), X, y, "sgd", epochs=1, batch_size=60, lr=0.2,
                   lr_schedule="cosine", progress=False)
    # one full-batch step: the cosine rate at step 0 of 1 is the full rate, so the runs agree
    np.testing.assert_allclose(cos.theta_, const.theta_, rtol=1e-12)
    two, _ = train(LogisticRegression(delta=1.0), X, y, "sgd", epochs=2, batch_size=60, lr=0.2,
                   momentum=0.0, lr_schedule="cosine", progress=False)
    # by hand: θ_1 = θ_0 − 0.2 ∇L(θ_0)/N, then θ_2 = θ_1 − 0.2·½(1 + cos(π/2)) ∇L(θ_1)/N
    ref = prepare(LogisticRegression(delta=1.0), X, y)
    t1 = ref.theta_ - 0.2 * ref.gradient(ref.theta_) / 60
    t2 = t1 - 0.1 * ref.gradient(t1) / 60
    np.testing.assert_allclose(two.theta_, t2, rtol=1e-10)
    assert two.optimizer_.lr == 0.2
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        train(LogisticRegression(), X, y, "sgd", lr_schedule="step", progress=False)
    with pytest.raises(ValueError, match="no learning rate"):
        train(LogisticRegression(), X, y, "newton", lr_schedule="cosine", progress=False)
