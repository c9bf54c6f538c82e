"""Optimisers that expose the precision they imply at the current iterate (mpe-math §7).

Every optimiser works on the weighted objective L(θ) = Σ_i w_i ℓ_i(θ) + (δ/2)||θ||² of a model
with N = n training rows. A minibatch B estimates it without bias:

    L̂(θ) = (N/|B|) Σ_{i∈B} w_i ℓ_i(θ) + (δ/2)||θ||²

The first-order methods (SGD, RMSprop, Adam, VON) step on the per-example average ∇L̂/N, so their
learning rates do not depend on N. Each optimiser has

    start(model, theta)        set up its state at θ_0
    step(model, theta, batch)  one update on the minibatch (indices) → the new θ
    precision(model)           the precision S_t at the current iterate, as Sensitivity takes it:
                               a (P, P) matrix, a (P,) diagonal, or a precision object

| name               | update                                  | precision                        |
|--------------------|-----------------------------------------|----------------------------------|
| newton             | θ ← θ − t S⁻¹∇L (full batch, line search) | S = GGN(θ) + δI                |
| online_newton      | S ← (1−ρ)S + ρ(Ĥ + δI), θ ← θ − ρ S⁻¹∇L̂ | S                                |
| online_newton_diag | the same with a diagonal s              | s                                |
| von                | IVON: m ← m − ρ(ḡ + δm/N)/(h + δ/N)     | N·h + δ                          |
| adam, rmsprop      | θ ← θ − ρ m̂/(√v̂ + ε)                  | N·√v̂ + δ, or N·√v + δ ("raw")   |
| sgd                | θ ← θ − ρ ∇L̂/N (with momentum)         | GGN(θ) + δI, or the identity     |

Defaults. The class defaults are the tuned options: with ``train``'s defaults (batch 32, 20 epochs,
the cosine learning-rate decay) every optimiser reaches 0.946–0.957 test accuracy on
``experiments.digits_problem()`` (500 digits, MLP 64-16-10, δ = 10^-0.5;
``tests/test_optim_defaults.py`` checks ≥ 0.85). Each learning rate sits near the log-midpoint of
the range that trains there (≥ 0.85 test accuracy at 20 epochs, seed 0; the chosen rates also on
seeds 1–3), at least 3x below the rate that fails:

    sgd 0.3 (works 0.03–1, fails at 3)       adam 0.03 (0.003–0.3, fails at 1)
    rmsprop 0.03 (0.003–0.1, fails at 0.3)  von 0.1 (0.03–0.2, fails at 0.5)
    online_newton 0.05 (0.02–0.1, fails at 0.2)  online_newton_diag 0.01 (0.005–0.02, 0.83 at 0.05)

The online Newton rates are small because ρ also scales the minibatch gradient's noise, which
S⁻¹ amplifies by up to 1/δ in flat directions (a diagonal s also misses the coupling between
weights); at the old ρ = 0.5 both blew up (training NLL from 2.3 to about 2000). VON's β₂ = 0.99
makes (1 − β₂)·steps = 3.2 over the default 320 steps: h ends at a median 0.07 of hess_init
(β₂ = 0.99999 left it within 0.3%, so the precision was just the isotropic N·hess_init + δ).
hess_init = 0.1 is about 90x the median GGN diagonal per example (1.1e-3 at the end), so its 4%
weight in the average (β₂^320) is still about half of the final h; a smaller hess_init or β₂
trained worse here (the step ρ/h grows).
"""
import inspect

import autograd.numpy as anp
import numpy as np
from autograd import grad

from .curvature import FullPrecision, add_prior, ggn, ggn_diagonal
from .models import newton_step


# ---- what every optimiser needs from the model ------------------------------------------------
def batch_loss(model, theta, idx):
    """Σ_{i∈B} w_i ℓ_i(θ) over the minibatch B = idx (autograd-differentiable)."""
    f = model.outputs(theta, model.X_[idx])
    return anp.sum(model.weights_[idx] * model.likelihood_.nll(model.y_[idx], f))


_batch_grad = grad(batch_loss, 1)


def batch_gradient(model, theta, idx):
    """∇L̂(θ) = (N/|B|) Σ_{i∈B} w_i ∇ℓ_i(θ) + δθ: the unbiased minibatch estimate of ∇L."""
    n = model.X_.shape[0]
    return (n / len(idx)) * _batch_grad(model, theta, idx) + model.prior_precision_ * theta


def batch_ggn_parts(model, theta, idx):
    """Per-example Jacobians J_i (|B|, k, P) and curvatures Λ_i (|B|, k, k) on the minibatch."""
    at = model.with_theta(theta)
    X = model.X_[idx]
    Lam = model.likelihood_.curvatures(model.y_[idx], model.outputs(theta, X))
    return at.jacobians(X), Lam


def model_precision(model):
    """S = GGN(θ) + δI at the current iterate, marked exact: S − w_iH_i ⪰ δI holds at any θ, so
    the finite form of the MPE has no pole with it (unlike a running or diagonal estimate)."""
    return FullPrecision(model.precision_matrix(), exact=True)


class Optimizer:
    """What every optimiser shares: ``full_batch`` (False: minibatches), a no-op ``start``."""

    full_batch = False

    def start(self, model, theta):
        pass


# ---- second-order methods ---------------------------------------------------------------------
class Newton(Optimizer):
    """Newton / Gauss–Newton on the full batch: θ ← θ − t S⁻¹∇L, S = GGN(θ) + δI, with t halved
    until L decreases (Armijo; ``models.newton_step``, the step the GLMs are fitted with).
    Precision: S at the current iterate."""

    full_batch = True

    def step(self, model, theta, idx):
        precision = FullPrecision(model.precision_matrix(theta))
        return newton_step(model, theta, model.gradient(theta), precision)[0]

    def precision(self, model):
        return model_precision(model)


class OnlineNewton(Optimizer):
    """Online Newton with a full precision: S_t = (1−ρ)S_{t−1} + ρ(Ĥ_B + δI), θ ← θ − ρ S_t⁻¹∇L̂,
    where Ĥ_B = (N/|B|) Σ_{i∈B} w_i J_iᵀΛ_iJ_i. S_0 is the full GGN + δI at θ_0."""

    def __init__(self, lr=0.05):
        self.lr = lr

    def start(self, model, theta):
        self.S = model.precision_matrix(theta)

    def _curvature(self, model, theta, idx):
        J, Lam = batch_ggn_parts(model, theta, idx)
        w = model.weights_[idx] * model.X_.shape[0] / len(idx)
        return add_prior(ggn(J, Lam, w), model.prior_precision_)

    def step(self, model, theta, idx):
        rho = self.lr
        self.S = (1 - rho) * self.S + rho * self._curvature(model, theta, idx)
        return theta - rho * FullPrecision(self.S).solve(batch_gradient(model, theta, idx))

    def precision(self, model):
        return self.S


class OnlineNewtonDiag(OnlineNewton):
    """Online Newton with a diagonal precision s_t (minibatch): θ ← θ − ρ ∇L̂ / s_t. Its default
    rate is 5x below the full version's: the diagonal ignores the coupling between weights, so
    ∇L̂ / s_t overshoots along correlated directions."""

    def __init__(self, lr=0.01):
        super().__init__(lr=lr)

    def start(self, model, theta):
        J, Lam = batch_ggn_parts(model, theta, np.arange(model.X_.shape[0]))
        self.S = ggn_diagonal(J, Lam, model.weights_) + model.prior_precision_

    def _curvature(self, model, theta, idx):
        J, Lam = batch_ggn_parts(model, theta, idx)
        w = model.weights_[idx] * model.X_.shape[0] / len(idx)
        return ggn_diagonal(J, Lam, w) + model.prior_precision_

    def step(self, model, theta, idx):
        rho = self.lr
        self.S = (1 - rho) * self.S + rho * self._curvature(model, theta, idx)
        return theta - rho * batch_gradient(model, theta, idx) / self.S


# ---- first-order and variational methods ------------------------------------------------------
class VON(Optimizer):
    """Variational online Newton with a diagonal Gaussian q = N(m, diag(σ²)) (the IVON update).

    Each step draws θ̃ = m + σ ε, ε ~ N(0, I), takes the minibatch average gradient ĝ of the
    losses at θ̃ and the reparameterisation-trick Hessian estimate ĥ = ĝ ε / σ, then

        ḡ ← β₁ ḡ + (1−β₁) ĝ
        h ← β₂ h + (1−β₂) ĥ + ½(1−β₂)² (h − ĥ)² / (h + δ/N)      (keeps h > 0)
        m ← m − ρ (ḡ + δ m / N) / (h + δ/N)

    with σ² = 1 / (N (h + δ/N)). Precision: 1/σ² = N·h + δ (diagonal).

    h is an exponential average over about 1/(1−β₂) steps: its precision only carries information
    once (1 − β₂)·steps is of order one or more (mpe-math §7). The default β₂ = 0.99 gives 3.2 over
    a default run on the digits benchmark (20 epochs of 16 steps); IVON's β₂ = 0.99999 is for runs
    of 10⁵ steps and more. Lower it further only with care: the data's Hessian diagonal is small
    (here about 10⁻³ per example), and the step ρ/(h + δ/N) grows as h approaches it."""

    def __init__(self, lr=0.1, beta1=0.9, beta2=0.99, hess_init=0.1, seed=0):
        self.lr, self.beta1, self.beta2, self.hess_init, self.seed = lr, beta1, beta2, hess_init, seed

    def start(self, model, theta):
        self.rng = np.random.default_rng(self.seed)
        self.g = np.zeros_like(theta)
        self.h = np.full_like(theta, float(self.hess_init))

    def step(self, model, theta, idx):
        n, delta = model.X_.shape[0], model.prior_precision_
        sigma = 1.0 / np.sqrt(n * self.h + delta)
        eps = self.rng.standard_normal(theta.shape)
        g_hat = _batch_grad(model, theta + sigma * eps, idx) / len(idx)
        h_hat = g_hat * eps / sigma
        self.g = self.beta1 * self.g + (1 - self.beta1) * g_hat
        b2, lam = self.beta2, delta / n
        self.h = b2 * self.h + (1 - b2) * h_hat + 0.5 * (1 - b2) ** 2 * (self.h - h_hat) ** 2 / (self.h + lam)
        return theta - self.lr * (self.g + lam * theta) / (self.h + lam)

    def precision(self, model):
        return model.X_.shape[0] * self.h + model.prior_precision_


class Adam(Optimizer):
    """Adam on ∇L̂/N: m̂, v̂ the bias-corrected moment estimates; θ ← θ − ρ m̂/(√v̂ + ε).

    Precision (diagonal): N·√v̂ + δ with precision="bias_corrected" (the default: the very √v̂
    Adam divides its step by, whatever the step count), or N·√v + δ with precision="raw", the
    uncorrected second moment v = v̂·(1 − β₂ᵗ) the paper's code takes. They differ by the factor
    √(1 − β₂ᵗ): 0.03 after one step, 0.52 after 320 steps at β₂ = 0.999 (a default run on the
    digits benchmark), 0.98 for RMSprop's β₂ = 0.99 there."""

    PRECISIONS = ("bias_corrected", "raw")

    def __init__(self, lr=0.03, beta1=0.9, beta2=0.999, eps=1e-8, precision="bias_corrected"):
        if precision not in self.PRECISIONS:
            raise ValueError(f"precision must be one of {list(self.PRECISIONS)}; got {precision!r}")
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.precision_choice = precision

    def start(self, model, theta):
        self.m, self.v, self.t = np.zeros_like(theta), np.zeros_like(theta), 0

    def _moments(self, g):
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * g
        self.v = self.beta2 * self.v + (1 - self.beta2) * g**2
        return self.m / (1 - self.beta1**self.t), self.v / (1 - self.beta2**self.t)

    def step(self, model, theta, idx):
        m_hat, v_hat = self._moments(batch_gradient(model, theta, idx) / model.X_.shape[0])
        return theta - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def precision(self, model):
        v = self.v
        if self.precision_choice == "bias_corrected":
            v = v / (1 - self.beta2**max(self.t, 1))
        return model.X_.shape[0] * np.sqrt(v) + model.prior_precision_


class RMSprop(Adam):
    """RMSprop: Adam without momentum (β₁ = 0). Precision N·√v̂ + δ (bias-corrected, the default)
    or N·√v + δ (precision="raw"), as for Adam."""

    def __init__(self, lr=0.03, beta2=0.99, eps=1e-8, precision="bias_corrected"):
        super().__init__(lr=lr, beta1=0.0, beta2=beta2, eps=eps, precision=precision)


class SGD(Optimizer):
    """SGD with momentum on ∇L̂/N. Precision: the Laplace GGN + δI computed at the current iterate
    (precision="ggn"), or the identity (precision="identity": the sensitivity is then V_i e_i
    with V_i = J_iJ_iᵀ, the raw gradient view)."""

    PRECISIONS = ("ggn", "identity")

    def __init__(self, lr=0.3, momentum=0.9, precision="ggn"):
        if precision not in self.PRECISIONS:
            raise ValueError(f"precision must be one of {list(self.PRECISIONS)}; got {precision!r}")
        self.lr, self.momentum, self.precision_choice = lr, momentum, precision

    def start(self, model, theta):
        self.velocity = np.zeros_like(theta)

    def step(self, model, theta, idx):
        g = batch_gradient(model, theta, idx) / model.X_.shape[0]
        self.velocity = self.momentum * self.velocity + g
        return theta - self.lr * self.velocity

    def precision(self, model):
        if self.precision_choice == "identity":
            return np.ones(model.theta_.shape[0])
        return model_precision(model)


OPTIMIZERS = {"newton": Newton, "online_newton": OnlineNewton,
              "online_newton_diag": OnlineNewtonDiag, "von": VON, "adam": Adam,
              "rmsprop": RMSprop, "sgd": SGD}


def make_optimizer(name, seed=0, **options):
    """The optimiser called ``name`` with its options; unknown names or options are ValueErrors
    that list the valid ones."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {sorted(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "seed")]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for optimizer {name!r}; valid: {valid}")
    for key, value in options.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"option {key} of optimizer {name!r} must be a finite number >= 0; "
                                 f"got {value}")
    if "seed" in inspect.signature(cls.__init__).parameters:
        options["seed"] = seed
    return cls(**options)
