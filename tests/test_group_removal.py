"""The group (leave-one-class-out) estimate of experiment 4 against exact answers on tiny problems."""
import numpy as np
from autograd import grad, hessian

from mpe_teach import LinearRegression, MLP, Sensitivity, SoftmaxRegression
from mpe_teach.datasets import blobs
from mpe_teach.experiments import group_removal_nll


def test_group_removal_is_exact_for_linear_regression():
    # quadratic loss: removing a group is one exact Newton step, so the estimate equals the refit
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = X @ [1.0, -1.0] + rng.normal(size=30) + 3.0 * (np.arange(30) < 6)   # the group is shifted
    m = LinearRegression(delta=0.5).fit(X, y)
    group = np.arange(6)
    est = group_removal_nll(Sensitivity(m), group, X[group], y[group])
    w = np.ones(30)
    w[group] = 0.0
    truth = float(np.mean(m.refit(w).nll(X[group], y[group])))
    np.testing.assert_allclose(est["estimated"], truth, rtol=1e-8)
    np.testing.assert_allclose(est["estimated_one_step"], truth, rtol=1e-8)
    # the first-order form is not exact for a group of 6 high-residual points
    assert abs(est["estimated_first_order"] - truth) > 0.05 * truth


def test_class_removal_is_one_newton_step_for_softmax_regression():
    d = blobs(n=90, centers=3, seed=1, n_test=30)
    m = SoftmaxRegression(delta=2.0).fit(d.X_train, d.y_train)
    c = 1
    members = np.flatnonzero(d.y_train == c)
    est = group_removal_nll(Sensitivity(m), members, d.X_train[members], d.y_train[members])
    w = (d.y_train != c).astype(float)
    # independent: one Newton step on the objective without class c, Hessian and gradient by autograd
    objective = lambda t: m.objective(t, w)
    step = np.linalg.solve(hessian(objective)(m.theta_), grad(objective)(m.theta_))
    one_step = float(np.mean(m.with_theta(m.theta_ - step).nll(d.X_train[members], d.y_train[members])))
    np.testing.assert_allclose(est["estimated"], one_step, rtol=1e-8)
    np.testing.assert_allclose(est["estimated_one_step"], one_step, rtol=1e-8)
    # coarse bounds against retraining: the step goes the right way, and further than first order
    before = float(np.mean(m.nll(d.X_train[members], d.y_train[members])))
    after = float(np.mean(m.refit(w).nll(d.X_train[members], d.y_train[members])))
    assert before < est["estimated_first_order"] < est["estimated"] <= after


def test_small_group_removal_tracks_refit_for_a_tiny_mlp():
    d = blobs(n=60, centers=3, seed=2, n_test=30)
    m = MLP(hidden=(4,), delta=1.0, tol=1e-8).fit(d.X_train, d.y_train)
    s = Sensitivity(m)
    # the three examples the model is most wrong about: a group with a visible effect
    group = np.argsort(-np.abs(s.errors_).sum(axis=1))[:3]
    est = group_removal_nll(s, group, d.X_train[group], d.y_train[group])
    w = np.ones(60)
    w[group] = 0.0
    before = float(np.mean(m.nll(d.X_train[group], d.y_train[group])))
    after = float(np.mean(m.refit(w).nll(d.X_train[group], d.y_train[group])))
    # the estimated change of the group's NLL is within 40% of the retrained change (measured:
    # 0.73 vs 1.05 nats, the network's curvature beyond the GGN), and the finite form is closer
    # to the refit than the first-order one
    assert abs((est["estimated"] - before) - (after - before)) <= 0.4 * abs(after - before)
    assert abs(est["estimated"] - after) < abs(est["estimated_first_order"] - after)
