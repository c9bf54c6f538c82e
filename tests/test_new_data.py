"""The MPE for data the model has not seen (Sensitivity.data_change, addition_changes): adding a
point is a weight change 0 → w, moving one is the group form with Δw = −1 and +1."""
import numpy as np
import pytest

from mpe_teach import LinearRegression, LogisticRegression, Sensitivity, SoftmaxRegression, datasets


@pytest.fixture(scope="module")
def softmax():
    data = datasets.digits(n_train=120, seed=0)
    model = SoftmaxRegression(delta=1.0).fit(data.X_train, data.y_train)
    return data, model, Sensitivity(model)


def test_adding_against_refits(softmax):
    data, model, sens = softmax
    X_new, y_new = data.X_test[:6], data.y_test[:6]
    d_theta, d_f = sens.addition_changes(X_new, y_new)
    for j in range(6):
        refit = SoftmaxRegression(delta=1.0).fit(np.vstack([data.X_train, X_new[j]]),
                                                 np.append(data.y_train, y_new[j]))
        true = refit.theta_ - model.theta_
        # one Newton step from θ*: measured relative error 2.4% .. 6.4% on these test images
        assert np.linalg.norm(d_theta[j] - true) < 0.1 * np.linalg.norm(true)
        one, f_one = sens.data_change(X_add=X_new[j:j + 1], y_add=y_new[j:j + 1])
        np.testing.assert_allclose(one, d_theta[j], atol=1e-12)
        np.testing.assert_allclose(f_one[0], d_f[j], atol=1e-12)
        # the output change is the Jacobian times Δθ (the model is linear in θ)
        J = model.jacobians(X_new[j:j + 1])[0]
        np.testing.assert_allclose(d_f[j], J @ d_theta[j], atol=1e-10)


def test_first_order_addition_is_the_influence_function(softmax):
    data, model, sens = softmax
    x, y = data.X_test[:1], data.y_test[:1]
    d_theta, _ = sens.addition_changes(x, y, weight=1.0, method="influence")
    J = model.jacobians(x)[0]
    f = model.decision_function(x)
    e = model.likelihood_.errors(model.encode_targets(y, 1), np.atleast_2d(f))[0]
    S = model.precision_matrix()
    np.testing.assert_allclose(d_theta[0], -np.linalg.solve(S, J.T @ e), atol=1e-10)


def test_members_only_is_the_group_form(softmax):
    _, _, sens = softmax
    idx = np.array([3, 17, 40])
    d_theta, d_f = sens.data_change(idx, [0.0, 2.0, 0.5])
    np.testing.assert_allclose(d_theta, sens.param_change(idx, [0.0, 2.0, 0.5]), atol=1e-12)
    np.testing.assert_allclose(d_f, sens.pred_change(idx, [0.0, 2.0, 0.5]), atol=1e-12)


def test_moving_is_exact_for_least_squares():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=40)
    model = LinearRegression(delta=0.5).fit(X, y)
    X2, y2 = X.copy(), y.copy()
    X2[5], y2[5] = [3.0, 3.0, -1.0], 7.0
    d_theta, d_f = Sensitivity(model).data_change([5], 0.0, X_add=X2[5:6], y_add=[7.0])
    # independent truth: the ridge normal equations on the moved data
    Phi = np.hstack([np.ones((40, 1)), X2])
    theta = np.linalg.solve(Phi.T @ Phi + 0.5 * np.eye(4), Phi.T @ y2)
    np.testing.assert_allclose(d_theta, theta - model.theta_, atol=1e-10)
    np.testing.assert_allclose(d_f[1, 0], Phi[5] @ (theta - model.theta_), atol=1e-10)


def test_bad_new_data():
    data = datasets.two_moons(n=30, seed=0)
    sens = Sensitivity(LogisticRegression(delta=1.0).fit(data.X_train, data.y_train))
    with pytest.raises(ValueError, match="X_new"):
        sens.addition_changes(np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="labels not seen"):
        sens.data_change(X_add=[[0.0, 0.0]], y_add=[7])
    with pytest.raises(ValueError, match="add_weights"):
        sens.data_change(X_add=[[0.0, 0.0]], y_add=[1], add_weights=-1.0)
    with pytest.raises(ValueError, match="members or added"):
        sens.data_change()
