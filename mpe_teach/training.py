"""Train with any optimiser of ``optim`` and read the MPE off it at checkpoints (mpe-math §7, §8).

    model, history = train(MLP(hidden=(32,)), X, y, optimizer="adam", epochs=30,
                           X_test=X_te, y_test=y_te, checkpoints=[1, 5, 10, 30])
    history["loo_nll"], history["test_nll"]        # one value per checkpoint

At each checkpoint the optimiser's own precision S_t (§7) goes into ``Sensitivity`` together
with the model at the current iterate: one code path gives V_{i,t}, Δf_{i,t}, the LOO-CV estimate
(1/n) Σ_i ℓ(y_i, f_i + Δf_i) and the per-example sensitivities for every optimiser.

Training that fails says so: a non-finite θ or training loss stops it with a FloatingPointError,
and a training NLL that ends an epoch above ``LOSS_GROWTH`` times its initial value raises a
``TrainingWarning``; both name the optimiser, the epoch and the learning rate.
"""
import copy
import warnings

import numpy as np
from tqdm.std import tqdm  # a text bar on stderr: a saved notebook shows its last line (100%)

from .blas import single_threaded_blas
from .mpe import FallbackWarning, PerturbationWarning, Sensitivity
from .optim import make_optimizer
from .validation import check_int, check_matrix


class TrainingWarning(UserWarning):
    """Training is going wrong (the training loss grew far above its start): lower the learning
    rate."""


# A training NLL above this multiple of its value at θ_0 at the end of an epoch means divergence:
# a working run lowers it (on the digits benchmark every default run ends its first epoch at
# 0.08–0.55x, Newton's single step at 0.72x; online_newton_diag at the old ρ = 0.5 at 1180x).
LOSS_GROWTH = 2.0


class History(list):
    """One dict per checkpoint; ``history["test_nll"]`` gives that key over all checkpoints."""

    def __getitem__(self, key):
        if isinstance(key, str):
            if len(self) == 0 or key not in self[0]:
                valid = sorted(self[0]) if len(self) else []
                raise KeyError(f"no record key {key!r}; the records hold {valid}")
            return np.array([record[key] for record in self])
        return list.__getitem__(self, key)


def prepare(model, X, y, weights=None):
    """Validate the data and set the model up at its initial θ_0 without optimising (what
    ``fit`` does before it calls the optimiser). Returns a new model; ``model`` is untouched."""
    return copy.deepcopy(model).prepare(X, y, weights)


def checkpoint_record(model, precision, epoch, X_test=None, y_test=None):
    """What one checkpoint records, from the model at the current iterate and the optimiser's
    precision there: train/test NLL, test accuracy, the MPE LOO-CV estimate and sensitivities."""
    w = model.weights_
    train_nll = model.likelihood_.nll(model.y_, model.train_outputs())
    with single_threaded_blas(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PerturbationWarning)
        sens = Sensitivity(model, structure=precision)
        loo = sens.loo_nll()
        sensitivities = sens.sensitivities()
    kept = w > 0
    record = {"epoch": epoch,
              "train_nll": float(np.sum(w * train_nll) / np.sum(w)),
              "test_nll": np.nan, "test_accuracy": np.nan,
              "loo_nll": float(np.mean(loo[kept])),
              "loo_nlls": loo, "sensitivities": sensitivities,
              "method": sens.resolve_method("auto"),   # the form used: "mpe" or "influence"
              "n_first_order": sum(issubclass(c.category, FallbackWarning) for c in caught)}
    if X_test is not None:
        record["test_nll"] = float(np.mean(model.nll(X_test, y_test)))
        if model.likelihood_.is_classifier:
            record["test_accuracy"] = float(np.mean(model.predict(X_test) == np.asarray(y_test)))
    return record


LR_SCHEDULES = ("constant", "cosine")


def _train_nll(model, theta):
    """The full-batch training NLL Σ w_i ℓ_i(θ) / Σ w_i (what a checkpoint records)."""
    w = model.weights_
    f = model.outputs(theta, model.X_)
    return float(np.sum(w * model.likelihood_.nll(model.y_, f)) / np.sum(w))


def _rate(optimizer, base_lr, lr_schedule):
    if base_lr is None:
        return f"{optimizer} (which has no learning rate)"
    return f"{optimizer} with lr={base_lr:g}" + (" (cosine decay)" if lr_schedule == "cosine" else "")


def train(model, X, y, optimizer="adam", epochs=20, X_test=None, y_test=None, checkpoints=None,
          seed=0, batch_size=None, weights=None, progress=True, lr_schedule=None,
          **optimizer_options):
    """Train ``model`` on (X, y) from its initial θ_0 and record the MPE at checkpoints.

    optimizer: "newton", "online_newton", "online_newton_diag", "von", "adam", "rmsprop" or
        "sgd"; ``optimizer_options`` go to it (e.g. lr=1e-2; sgd takes precision="ggn" or
        "identity", adam and rmsprop precision="bias_corrected" or "raw"). Newton always uses
        the full batch (one step per epoch). Every optimiser's defaults train with this
        function's defaults (batch 32, 20 epochs, cosine decay): see ``optim``.
    epochs: passes over the data; checkpoints: epochs (0..epochs) at which to record
        (default: the last). batch_size: default 32 (full batch for Newton).
    seed: the minibatch order and VON's samples. weights: per-example weights (n,).
    lr_schedule: "cosine" (the default for every optimiser with a learning rate, as in the
        paper): the rate at step t of T is lr · ½(1 + cos(π t / T)), decaying to 0 so that the
        last iterates settle near a stationary point of L, which the MPE assumes; or
        "constant" (the default for Newton, which has no learning rate). On the digits
        benchmark the cosine decay is what makes the defaults robust: with a constant rate
        RMSprop (lr 0.03) and VON (lr 0.1) end at 0.70 and 0.67 test accuracy instead of 0.95,
        and Adam ends with a gradient norm 35x larger (48% of its initial one, not 1.4%).
    A training loss that is not finite stops training with a FloatingPointError; a training
    NLL above LOSS_GROWTH (2) times its initial value at the end of an epoch raises a
    ``TrainingWarning`` (once per run). Both name the optimiser, the epoch and lr.
    Returns (trained model, History) with one record per checkpoint holding ``epoch``,
    ``train_nll``, ``test_nll``, ``test_accuracy``, ``loo_nll`` (the MPE LOO-CV estimate,
    mean over examples with w_i > 0), ``loo_nlls`` (n,), ``sensitivities`` (n,) (the estimated
    deviation Σ_c|p_c(f_i + Δf_i) − p_ic|, or |Δf_i| for regression) and ``n_first_order``
    (examples where an approximate precision forced the first-order form) and ``method``, the
    form the estimates used ("mpe": finite, with the model's own precision; "influence": first
    order, with an approximate one).
    """
    epochs = check_int("epochs", epochs, 1)
    seed = check_int("seed", seed, 0)
    checkpoints = [epochs] if checkpoints is None else sorted(
        {check_int("each checkpoint", c, 0, epochs) for c in np.atleast_1d(checkpoints)})
    opt = make_optimizer(optimizer, seed=seed, **optimizer_options)
    if lr_schedule is None:
        lr_schedule = "cosine" if hasattr(opt, "lr") else "constant"
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {list(LR_SCHEDULES)}; got {lr_schedule!r}")
    if lr_schedule != "constant" and not hasattr(opt, "lr"):
        raise ValueError(f"optimizer {optimizer!r} has no learning rate; use lr_schedule='constant'")
    model = prepare(model, X, y, weights)
    if X_test is not None:
        X_test = check_matrix("X_test", X_test, n_features=model.n_features_in_)
        if y_test is None or len(y_test) != X_test.shape[0]:
            raise ValueError(f"y_test must hold one label per row of X_test ({X_test.shape[0]})")
    n = model.X_.shape[0]
    if opt.full_batch:
        if batch_size not in (None, n):
            raise ValueError(f"optimizer {optimizer!r} always uses the full batch; got batch_size={batch_size}")
        batch_size = n
    batch_size = check_int("batch_size", 32 if batch_size is None else batch_size, 1, n)
    rng = np.random.default_rng(seed)
    theta = model.theta_.copy()
    base_lr, steps_per_epoch = getattr(opt, "lr", None), -(-n // batch_size)
    total, step = epochs * steps_per_epoch, 0
    history = History()
    with single_threaded_blas():
        opt.start(model, theta)
    initial_nll, warned = _train_nll(model, theta), False
    if 0 in checkpoints:
        history.append(checkpoint_record(model, opt.precision(model), 0, X_test, y_test))
    for epoch in tqdm(range(1, epochs + 1), desc=f"training ({optimizer})", disable=not progress):
        order = rng.permutation(n)
        with single_threaded_blas():
            for start in range(0, n, batch_size):
                if lr_schedule == "cosine":
                    opt.lr = base_lr * 0.5 * (1 + np.cos(np.pi * step / total))
                theta = opt.step(model, theta, order[start:start + batch_size])
                step += 1
                if not np.all(np.isfinite(theta)):
                    break
            nll = _train_nll(model, theta) if np.all(np.isfinite(theta)) else np.nan
        if not np.isfinite(nll):
            if base_lr is not None:
                opt.lr = base_lr
            raise FloatingPointError(
                f"{_rate(optimizer, base_lr, lr_schedule)} diverged in epoch {epoch} (step "
                f"{step} of {total}): the training loss is not finite; lower the learning rate lr")
        if nll > LOSS_GROWTH * initial_nll and not warned:
            warnings.warn(f"{_rate(optimizer, base_lr, lr_schedule)}: the training NLL at the end "
                          f"of epoch {epoch} is {nll:.4g}, more than {LOSS_GROWTH:g}x its initial "
                          f"{initial_nll:.4g}; training is diverging: lower the learning rate lr",
                          TrainingWarning, stacklevel=2)
            warned = True
        model.theta_ = theta
        if epoch in checkpoints:
            history.append(checkpoint_record(model, opt.precision(model), epoch, X_test, y_test))
    if base_lr is not None:
        opt.lr = base_lr        # the optimiser keeps the learning rate it was given
    model.optimizer_ = opt
    return model, history
