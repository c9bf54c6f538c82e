"""Train with any optimiser of ``optim`` and read the MPE off it at checkpoints (mpe-math §7, §8).

    model, history = train(MLP(hidden=(32,)), X, y, optimizer="adam", epochs=30,
                           X_test=X_te, y_test=y_te, checkpoints=[1, 5, 10, 30])
    history["loo_nll"], history["test_nll"]        # one value per checkpoint

At each checkpoint the optimiser's own precision S_t (§7) goes into ``Sensitivity`` together
with the model at the current iterate: one code path gives V_{i,t}, Δf_{i,t}, the LOO-CV estimate
(1/n) Σ_i ℓ(y_i, f_i + Δf_i) and the per-example sensitivities for every optimiser.
"""
import copy
import warnings

import numpy as np
from tqdm.auto import tqdm

from .blas import single_threaded_blas
from .mpe import FallbackWarning, PerturbationWarning, Sensitivity
from .optim import make_optimizer
from .validation import check_int, check_matrix


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
              "n_first_order": sum(issubclass(c.category, FallbackWarning) for c in caught)}
    if X_test is not None:
        record["test_nll"] = float(np.mean(model.nll(X_test, y_test)))
        if model.likelihood_.is_classifier:
            record["test_accuracy"] = float(np.mean(model.predict(X_test) == np.asarray(y_test)))
    return record


LR_SCHEDULES = ("constant", "cosine")


def train(model, X, y, optimizer="adam", epochs=20, X_test=None, y_test=None, checkpoints=None,
          seed=0, batch_size=None, weights=None, progress=True, lr_schedule="constant",
          **optimizer_options):
    """Train ``model`` on (X, y) from its initial θ_0 and record the MPE at checkpoints.

    optimizer: "newton", "online_newton", "online_newton_diag", "von", "adam", "rmsprop" or
        "sgd"; ``optimizer_options`` go to it (e.g. lr=1e-2; sgd takes precision="ggn" or
        "identity"). Newton always uses the full batch (one step per epoch).
    epochs: passes over the data; checkpoints: epochs (0..epochs) at which to record
        (default: the last). batch_size: default 32 (full batch for Newton).
    seed: the minibatch order and VON's samples. weights: per-example weights (n,).
    lr_schedule: "constant", or "cosine": the learning rate at step t of T is
        lr · ½(1 + cos(π t / T)), decaying to 0 so that the last iterates settle near a
        stationary point of L (which the MPE assumes); not for Newton (it has no learning rate).
    Returns (trained model, History) with one record per checkpoint holding ``epoch``,
    ``train_nll``, ``test_nll``, ``test_accuracy``, ``loo_nll`` (the MPE LOO-CV estimate,
    mean over examples with w_i > 0), ``loo_nlls`` (n,), ``sensitivities`` (n,) (the estimated
    deviation Σ_c|p_c(f_i + Δf_i) − p_ic|, or |Δf_i| for regression) and ``n_first_order``
    (examples where an approximate precision forced the first-order form).
    """
    epochs = check_int("epochs", epochs, 1)
    seed = check_int("seed", seed, 0)
    checkpoints = [epochs] if checkpoints is None else sorted(
        {check_int("each checkpoint", c, 0, epochs) for c in np.atleast_1d(checkpoints)})
    opt = make_optimizer(optimizer, seed=seed, **optimizer_options)
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
            raise FloatingPointError(f"{optimizer} diverged at epoch {epoch} (θ is not finite); "
                                     "lower the learning rate lr")
        model.theta_ = theta
        if epoch in checkpoints:
            history.append(checkpoint_record(model, opt.precision(model), epoch, X_test, y_test))
    if base_lr is not None:
        opt.lr = base_lr        # the optimiser keeps the learning rate it was given
    model.optimizer_ = opt
    return model, history
