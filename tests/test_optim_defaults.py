"""Every optimiser's defaults train on the digits benchmark; train() says when training fails;
VON's Hessian estimate adapts within a default run; Adam/RMSprop's raw and bias-corrected
precisions (mpe-math §7)."""
import warnings

import numpy as np
import pytest

from mpe_teach import LinearRegression, LogisticRegression, experiments, train
from mpe_teach.datasets import two_moons
from mpe_teach.optim import OPTIMIZERS, make_optimizer
from mpe_teach.training import TrainingWarning, prepare


@pytest.fixture(scope="module")
def digits():
    return experiments.digits_problem()       # 500 digits, MLP 64-16-10, δ = 10^-0.5


def run(problem, name, **kwargs):
    data, model = problem
    return train(model, data.X_train, data.y_train, name, X_test=data.X_test, y_test=data.y_test,
                 progress=False, **kwargs)


# The cheap optimisers run train()'s own default (20 epochs); the three that build a GGN every
# step use the smallest epoch count that clears the target with a margin (measured accuracy at
# that count: newton 0.93, online_newton 0.93, online_newton_diag 0.90; at 20 epochs all >= 0.95).
EPOCHS = {"newton": 10, "online_newton": 2, "online_newton_diag": 4}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_default_options_train_on_the_digits_benchmark(digits, name):
    assert experiments.DEFAULT_OPTIONS[name] == {}       # the class defaults are the tuned options
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingWarning)
        kwargs = {"epochs": EPOCHS[name]} if name in EPOCHS else {}
        _, hist = run(digits, name, **kwargs)
    assert hist[-1]["test_accuracy"] >= 0.85
    assert hist[-1]["test_nll"] < 0.5                    # log(10) = 2.3 is a uniform guess


def test_von_hessian_estimate_moves_within_a_default_run(digits):
    data = digits[0]
    steps = 20 * -(-len(data.y_train) // 32)            # train()'s defaults: 20 epochs of batch 32
    von = make_optimizer("von")
    assert (1 - von.beta2) * steps >= 1                 # h averages over fewer steps than the run
    model, _ = run(digits, "von")
    change = np.abs(model.optimizer_.h / von.hess_init - 1)
    assert np.median(change) > 0.5                      # measured: 0.93
    # the old β₂ = 0.99999 averaged over 10⁵ steps: h stayed at its initial value, so the
    # precision N·h + δ was the isotropic N·hess_init + δ
    frozen, _ = run(digits, "von", beta2=0.99999)
    assert np.median(np.abs(frozen.optimizer_.h / von.hess_init - 1)) < 0.05   # measured: 0.003


@pytest.mark.parametrize("name, beta1, beta2", [("adam", 0.9, 0.999), ("rmsprop", 0.0, 0.99)])
def test_adam_and_rmsprop_precisions_by_hand(name, beta1, beta2):
    moons = two_moons(n=60, seed=0)
    X, y, lr, delta, n = moons.X_train, moons.y_train, 0.1, 2.0, 60
    kw = dict(epochs=2, batch_size=n, lr=lr, lr_schedule="constant", progress=False)
    corrected, _ = train(LogisticRegression(delta=delta), X, y, name, **kw)
    raw, _ = train(LogisticRegression(delta=delta), X, y, name, precision="raw", **kw)
    np.testing.assert_array_equal(raw.theta_, corrected.theta_)     # the option changes no step
    # by hand, two full-batch steps from θ_0 with the analytic gradient g_t = ∇L(θ_t)/N: the
    # first step's bias-corrected moments are g_1 and g_1², so θ_1 = θ_0 − lr g_1/(|g_1| + ε)
    ref = prepare(LogisticRegression(delta=delta), X, y)
    g1 = ref.gradient(ref.theta_) / n
    g2 = ref.gradient(ref.theta_ - lr * g1 / (np.abs(g1) + 1e-8)) / n
    v = beta2 * (1 - beta2) * g1**2 + (1 - beta2) * g2**2            # v_2, not bias-corrected
    np.testing.assert_allclose(raw.optimizer_.precision(raw), n * np.sqrt(v) + delta, rtol=1e-10)
    np.testing.assert_allclose(corrected.optimizer_.precision(corrected),
                               n * np.sqrt(v / (1 - beta2**2)) + delta, rtol=1e-10)
    assert make_optimizer(name).precision_choice == "bias_corrected"
    with pytest.raises(ValueError, match="precision must be one of"):
        make_optimizer(name, precision="ggn")


def test_a_growing_training_loss_warns_once_and_names_the_run(digits):
    # online_newton_diag's old default ρ = 0.5: the training NLL jumps from 2.3 to about 2700
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)        # overflow in the tanh's cosh
        with pytest.warns(TrainingWarning) as caught:
            _, hist = run(digits, "online_newton_diag", epochs=2, lr=0.5, checkpoints=[0, 2])
    ours = [w for w in caught if issubclass(w.category, TrainingWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert "online_newton_diag with lr=0.5 (cosine decay)" in message
    assert "end of epoch 1 " in message and "lower the learning rate" in message
    assert hist["train_nll"][-1] > 2 * hist["train_nll"][0]       # what the warning said
    assert hist[-1]["test_accuracy"] < 0.5


def test_a_non_finite_training_loss_stops_training_at_its_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    y = X @ [1.0, -1.0]
    lr, kw = 50.0, dict(momentum=0.0, batch_size=20, lr_schedule="constant", progress=False)
    # by hand: full-batch gradient descent θ ← θ − lr ∇L(θ)/N until the loss overflows
    ref = prepare(LinearRegression(), X, y)
    theta, epoch = ref.theta_.copy(), 0
    with np.errstate(over="ignore", invalid="ignore"):
        while np.isfinite(ref.objective(theta)):
            theta, epoch = theta - lr * ref.gradient(theta) / 20, epoch + 1
    assert 10 < epoch < 500
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", TrainingWarning)
        with pytest.raises(FloatingPointError, match=rf"sgd with lr=50 diverged in epoch {epoch} "
                                                     r"\(step \d+ of 500\).*lower the learning rate"):
            train(LinearRegression(), X, y, "sgd", epochs=500, lr=lr, **kw)


def test_the_cosine_decay_is_the_default_where_there_is_a_rate():
    moons = two_moons(n=60, seed=0)
    X, y = moons.X_train, moons.y_train
    kw = dict(epochs=3, batch_size=20, lr=0.2, progress=False)
    default, _ = train(LogisticRegression(), X, y, "sgd", **kw)
    cosine, _ = train(LogisticRegression(), X, y, "sgd", lr_schedule="cosine", **kw)
    constant, _ = train(LogisticRegression(), X, y, "sgd", lr_schedule="constant", **kw)
    np.testing.assert_array_equal(default.theta_, cosine.theta_)
    assert not np.allclose(default.theta_, constant.theta_)
    train(LogisticRegression(), X, y, "newton", epochs=2, progress=False)   # no rate: constant
