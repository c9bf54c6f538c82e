"""KFAC and last-layer precisions for the MLP, checked against the full GGN computed independently."""
import numpy as np
import pytest

from mpe_teach import MLP, Sensitivity
from mpe_teach.curvature import ggn


def _data(n=40, d=3, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, rng.integers(0, k, size=n)


@pytest.fixture(scope="module")
def mlp():
    X, y = _data()
    return MLP(hidden=(5,), delta=0.7, tol=1e-5).fit(X, y, weights=np.linspace(0.5, 1.5, 40))


def test_kfac_exact_for_linear_head_without_hidden_layer():
    # f = W x + b with a Gaussian likelihood: Λ is constant and d = 1, so A ⊗ G / N is the GGN.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    y = X @ rng.normal(size=4) + 0.1 * rng.normal(size=30)
    m = MLP(hidden=(), head="linear", delta=0.5, tol=1e-8).fit(X, y, weights=rng.uniform(0.5, 2, 30))
    full, kf = Sensitivity(m, "full"), Sensitivity(m, "kfac")
    np.testing.assert_allclose(kf.variances_, full.variances_, rtol=1e-10)
    np.testing.assert_allclose(kf.precision_.matrix(), full.precision_.matrix(), rtol=1e-10, atol=1e-10)
    B = rng.normal(size=(m.n_params_, 3))
    np.testing.assert_allclose(kf.precision_.solve(B), np.linalg.solve(full.precision_.matrix(), B),
                               rtol=1e-8)


def test_kfac_for_one_example_is_the_block_diagonal_ggn(mlp):
    # With N = 1 the Kronecker factorisation of each layer block is exact; KFAC only drops the
    # blocks between layers. Compare with the block diagonal of the autograd-Jacobian GGN.
    one = mlp.with_theta(mlp.theta_)
    one.X_, one.y_, one.weights_ = mlp.X_[:1], mlp.y_[:1], np.array([1.3])
    kf = Sensitivity(one, "kfac")
    J, Lam = one.jacobians(), one.curvatures()
    H = ggn(J, Lam, one.weights_)
    S = np.zeros_like(H)
    for sl in one.layer_slices():
        S[sl, sl] = H[sl, sl]
    S += one.delta * np.eye(len(S))
    np.testing.assert_allclose(kf.precision_.matrix(), S, atol=1e-10)
    V = np.einsum("nkp,pq,nlq->nkl", J, np.linalg.inv(S), J)
    np.testing.assert_allclose(kf.variances_, V, rtol=1e-8, atol=1e-12)


def test_kfac_solve_and_variances_agree_with_its_matrix(mlp):
    kf = Sensitivity(mlp, "kfac")
    S = kf.precision_.matrix()
    B = np.random.default_rng(2).normal(size=(mlp.n_params_, 4))
    np.testing.assert_allclose(kf.precision_.solve(B), np.linalg.solve(S, B), rtol=1e-7, atol=1e-10)
    V = np.einsum("nkp,pq,nlq->nkl", kf.jacobians_, np.linalg.inv(S), kf.jacobians_)
    np.testing.assert_allclose(kf.variances_, V, rtol=1e-7, atol=1e-12)


def test_last_layer_variances_use_the_last_block_only(mlp):
    ll = Sensitivity(mlp, "last_layer")
    sl = mlp.layer_slices()[-1]
    # independent: last-layer Jacobian from the hidden activations (f = h W + b ⇒ J = [h, 1] ⊗ I_k)
    h = np.hstack([mlp.activations(mlp.X_)[-1], np.ones((40, 1))])
    k = mlp.n_outputs_
    J = np.einsum("ni,cd->ncid", h, np.eye(k)).reshape(40, k, -1)
    np.testing.assert_allclose(J, ll.jacobians_[:, :, sl], atol=1e-12)
    S = np.einsum("n,nkp,nkl,nlq->pq", mlp.weights_, J, mlp.curvatures(), J) + mlp.delta * np.eye(J.shape[2])
    V = np.einsum("nkp,pq,nlq->nkl", J, np.linalg.inv(S), J)
    np.testing.assert_allclose(ll.variances_, V, rtol=1e-8, atol=1e-12)
    d = ll.param_change(3)
    assert np.all(d[:sl.start] == 0)
    # The last layer's uncertainty is part of the full one: V_LL ⪯ V_full (Schur complement).
    gap = Sensitivity(mlp, "full").variances_ - ll.variances_
    assert np.linalg.eigvalsh(gap).min() > -1e-10


def test_structures_need_the_mlp():
    from mpe_teach import SoftmaxRegression
    X, y = _data()
    m = SoftmaxRegression(delta=1.0).fit(X, y)
    with pytest.raises(ValueError, match="MLP only"):
        Sensitivity(m, "kfac")
    with pytest.raises(ValueError, match="valid"):
        Sensitivity(m, "kfca")
