"""A small multilayer perceptron with per-example weights, trained full-batch (mpe-math §1, §9).

θ is one flat vector; ``unflatten`` turns it into [(W_1, b_1), …, (W_L, b_L)] with W_l (in, out).
Per-example Jacobians J_i = ∂f_i/∂θ (n, k, P) are computed with autograd, vectorised over the n
examples: for each output c one backward pass gives ∂f_ic/∂z_l for every layer's pre-activation
z_l and every i at once (the examples do not interact), and then
∂f_ic/∂W_l = a_{l−1,i} ⊗ ∂f_ic/∂z_l,   ∂f_ic/∂b_l = ∂f_ic/∂z_l.
"""
import warnings

import autograd.numpy as anp
import numpy as np
from autograd import grad, hessian_vector_product, value_and_grad
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from .likelihoods import Bernoulli, Categorical, Gaussian
from .models import ConvergenceWarning, Model, _Classifier

ACTIVATIONS = {"tanh": anp.tanh, "relu": lambda z: anp.maximum(z, 0.0)}
HEADS = ("softmax", "logistic", "linear")


class MLP(Model):
    """f(x) = W_L φ(… φ(W_1 x + b_1) …) + b_L with φ = tanh or relu.

    head: "softmax" (k classes, cross-entropy), "logistic" (binary) or "linear" (regression with
    Gaussian noise of variance noise_var). Fitted by L-BFGS, then polished with trust-region
    Newton-CG (exact Hessian-vector products from autograd) until max|∇L| ≤ tol.
    ``refit`` warm-starts at theta_ and uses the Newton-CG polish only.
    """

    def __init__(self, hidden=(32,), activation="tanh", head="softmax", delta=1.0,
                 noise_var=1.0, seed=0, tol=1e-6, max_iter=3000):
        super().__init__(delta=delta, fit_intercept=True)
        self.hidden, self.activation, self.head = hidden, activation, head
        self.noise_var, self.seed, self.tol, self.max_iter = noise_var, seed, tol, max_iter

    # ---- set-up --------------------------------------------------------------------------
    def _check_hyperparameters(self):
        super()._check_hyperparameters()
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {list(HEADS)}; got {self.head!r}")
        hidden = (self.hidden,) if np.isscalar(self.hidden) else tuple(self.hidden)
        if not all(int(h) == h and h >= 1 for h in hidden):
            raise ValueError(f"hidden must be positive layer sizes such as (32,) or (32, 32); got {self.hidden}")
        self.hidden = tuple(int(h) for h in hidden)
        if self.head == "linear":
            if not np.isfinite(self.noise_var) or self.noise_var <= 0:
                raise ValueError(f"noise_var must be a finite number > 0; got {self.noise_var}")
            self.likelihood, self.task = Gaussian(self.noise_var), "regression"
        else:
            self.likelihood = Categorical() if self.head == "softmax" else Bernoulli()
            self.task = "classification"

    def _encode_targets(self, y):
        if self.head == "linear":
            return Model._encode_targets(self, y)
        return _Classifier._encode_targets(self, y)

    def _check_classes(self, classes):
        _check_n_classes(classes, self.head)

    predict_proba = _Classifier.predict_proba
    predict_class = _Classifier.predict_class

    def _setup(self, X):
        k = 1 if self.head != "softmax" else len(self.classes_)
        self.n_outputs_ = k
        self.layer_sizes_ = [X.shape[1], *self.hidden, k]
        self.shapes_ = [(a, b) for a, b in zip(self.layer_sizes_[:-1], self.layer_sizes_[1:])]

    def _initial_theta(self):
        """Glorot-style normal weights (std 1/√fan_in), zero biases; deterministic in seed."""
        rng = np.random.default_rng(self.seed)
        parts = []
        for n_in, n_out in self.shapes_:
            parts += [rng.normal(0.0, 1.0 / np.sqrt(n_in), n_in * n_out), np.zeros(n_out)]
        return np.concatenate(parts)

    def unflatten(self, theta):
        """Flat θ (P,) → [(W_l (in, out), b_l (out,)), …]."""
        layers, start = [], 0
        for n_in, n_out in self.shapes_:
            W = theta[start:start + n_in * n_out].reshape(n_in, n_out)
            start += n_in * n_out
            layers.append((W, theta[start:start + n_out]))
            start += n_out
        return layers

    def layer_slices(self):
        """For each layer, the slice of θ holding (W_l, b_l): used by structured curvatures."""
        out, start = [], 0
        for n_in, n_out in self.shapes_:
            size = (n_in + 1) * n_out
            out.append(slice(start, start + size))
            start += size
        return out

    # ---- forward and Jacobians -----------------------------------------------------------
    def outputs(self, theta, X, offsets=None):
        """f (n, k). ``offsets``: optional list of (n, width) arrays added to each pre-activation
        (zero in value; used to read ∂f/∂z_l off autograd)."""
        act, a = ACTIVATIONS[self.activation], X
        layers = self.unflatten(theta)
        for l, (W, b) in enumerate(layers):
            z = anp.dot(a, W) + b
            if offsets is not None:
                z = z + offsets[l]
            a = act(z) if l < len(layers) - 1 else z
        return a

    def activations(self, X, theta=None):
        """The inputs a_{l−1} (n, in_l) of every layer at θ (numpy; no gradient)."""
        theta = self.theta_ if theta is None else theta
        act, a, acts = ACTIVATIONS[self.activation], X, []
        layers = self.unflatten(theta)
        for l, (W, b) in enumerate(layers):
            acts.append(a)
            a = act(a @ W + b) if l < len(layers) - 1 else None
        return acts

    def output_grads(self, X, theta=None):
        """∂f_ic/∂z_l for every layer l: a list of (n, k, out_l) arrays, one backward pass per c."""
        theta = self.theta_ if theta is None else theta
        zeros = [np.zeros((X.shape[0], n_out)) for _, n_out in self.shapes_]
        per_c = []
        for c in range(self.n_outputs_):
            g = grad(lambda offs: anp.sum(self.outputs(theta, X, offs)[:, c]))(zeros)
            per_c.append(g)
        return [np.stack([per_c[c][l] for c in range(self.n_outputs_)], axis=1)
                for l in range(len(self.shapes_))]

    def jacobians(self, X=None, theta=None):
        """J_i (n, k, P): per layer, ∂f/∂W_l = a_{l−1} ⊗ ∂f/∂z_l and ∂f/∂b_l = ∂f/∂z_l."""
        X = self.X_ if X is None else self._check_X(X, fitted=True)
        acts, dz = self.activations(X, theta), self.output_grads(X, theta)
        n, k = X.shape[0], self.n_outputs_
        blocks = []
        for a, d in zip(acts, dz):
            blocks += [np.einsum("ni,nko->nkio", a, d).reshape(n, k, -1), d]
        return np.concatenate(blocks, axis=2)

    # ---- training ------------------------------------------------------------------------
    def _optimise(self, theta, warm_start=False):
        """L-BFGS (skipped on warm starts), then trust-region Newton-CG to max|∇L| ≤ tol.

        BLAS runs single-threaded here: the matrices are small and thread start-up costs more
        than it saves (measured 4x faster on 2 cores)."""
        with threadpool_limits(limits=1, user_api="blas"):
            return self._minimise(theta, warm_start)

    def _minimise(self, theta, warm_start):
        w = self.weights_
        fun = value_and_grad(lambda t: self.objective(t, w))
        self.n_iter_ = 0
        if not warm_start:
            res = minimize(fun, theta, jac=True, method="L-BFGS-B",
                           options={"maxiter": self.max_iter, "gtol": self.tol, "maxcor": 30})
            theta, self.n_iter_ = res.x, res.nit
        gmax = np.abs(fun(theta)[1]).max()
        if gmax > self.tol:
            hvp = hessian_vector_product(lambda t: self.objective(t, w))
            res = minimize(fun, theta, jac=True, hessp=hvp, method="trust-ncg",
                           options={"gtol": self.tol, "maxiter": 200})
            theta, self.n_iter_ = res.x, self.n_iter_ + res.nit
            gmax = np.abs(fun(theta)[1]).max()
        self.grad_norm_ = gmax
        if gmax > 10 * self.tol:
            warnings.warn(f"MLP: training stopped with max|grad| = {gmax:.1e} > tol = {self.tol:.0e}",
                          ConvergenceWarning, stacklevel=3)
        return theta


def _check_n_classes(classes, head):
    if head == "logistic" and len(classes) != 2:
        raise ValueError(f"y has {len(classes)} class(es); an MLP with head='logistic' needs exactly 2")
    if len(classes) < 2:
        raise ValueError(f"y has {len(classes)} class; a classifier needs at least 2")
