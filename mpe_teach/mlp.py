"""A small multilayer perceptron with per-example weights, trained full-batch (mpe-math §1, §9).

θ is one flat vector; ``unflatten`` turns it into [(W_1, b_1), …, (W_L, b_L)] with W_l (in, out).
Per-example Jacobians J_i = ∂f_i/∂θ (n, k, P) are computed with autograd, vectorised over the n
examples: for each output c one backward pass gives ∂f_ic/∂z_l for every layer's pre-activation
z_l and every i at once (the examples do not interact), and then
∂f_ic/∂W_l = a_{l−1,i} ⊗ ∂f_ic/∂z_l,   ∂f_ic/∂b_l = ∂f_ic/∂z_l.
"""
import autograd.numpy as anp
import numpy as np
from autograd import grad, hessian_vector_product, value_and_grad
from scipy.optimize import minimize

from .blas import single_threaded_blas
from .likelihoods import Bernoulli, Categorical, Gaussian, Poisson
from .models import Model
from .validation import check_choice, check_float, check_int

ACTIVATIONS = {"tanh": anp.tanh, "relu": lambda z: anp.maximum(z, 0.0)}
HEADS = ("softmax", "logistic", "linear", "poisson")
# A warm start whose relative gradient exceeds this is far from a minimum (e.g. a whole class
# removed): L-BFGS first, then Newton-CG. Closer starts (one example removed) go to Newton-CG.
FAR_FROM_MINIMUM = 1e-2


class MLP(Model):
    """f(x) = W_L φ(… φ(W_1 x + b_1) …) + b_L with φ = tanh or relu.

    head: "softmax" (k classes, cross-entropy), "logistic" (binary), "linear" (regression with
    Gaussian noise of variance noise_var) or "poisson" (counts, log link). Fitted by L-BFGS,
    then polished with trust-region Newton-CG (exact Hessian-vector products from autograd)
    until max|∇L| ≤ tol · gradient_scale (the same relative test as the GLMs).
    """

    layered = True

    def __init__(self, hidden=(32,), activation="tanh", head="softmax", delta=1.0,
                 noise_var=1.0, seed=0, tol=1e-8, max_iter=3000):
        self.hidden, self.activation, self.head, self.delta = hidden, activation, head, delta
        self.noise_var, self.seed, self.tol, self.max_iter = noise_var, seed, tol, max_iter

    # ---- set-up --------------------------------------------------------------------------
    def _check_hyperparameters(self):
        super()._check_hyperparameters()
        check_choice("activation", self.activation, list(ACTIVATIONS))
        check_choice("head", self.head, HEADS)
        check_int("max_iter", self.max_iter, 1)
        hidden = (self.hidden,) if np.ndim(self.hidden) == 0 else tuple(self.hidden)
        self.hidden_ = tuple(check_int("each hidden layer size", h, 1) for h in hidden)

    def make_likelihood(self):
        if self.head == "linear":
            return Gaussian(check_float("noise_var", self.noise_var, low=0.0, low_open=True))
        return {"softmax": Categorical, "logistic": Bernoulli, "poisson": Poisson}[self.head]()

    def _setup(self, X):
        self.layer_sizes_ = [X.shape[1], *self.hidden_, self.n_outputs_]
        self.shapes_ = [(a, b) for a, b in zip(self.layer_sizes_[:-1], self.layer_sizes_[1:])]

    def initial_theta(self):
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
        """The inputs a_{l−1} (n, in_l) of every layer at θ (default θ*; numpy, no gradient)."""
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
        per_c = [grad(lambda offs, c=c: anp.sum(self.outputs(theta, X, offs)[:, c]))(zeros)
                 for c in range(self.n_outputs_)]
        return [np.stack([g[l] for g in per_c], axis=1) for l in range(len(self.shapes_))]

    def jacobians(self, X=None):
        """J_i (n, k, P) at θ*: per layer, ∂f/∂W_l = a_{l−1} ⊗ ∂f/∂z_l and ∂f/∂b_l = ∂f/∂z_l."""
        X = self.X_ if X is None else self._check_X(X)
        acts, dz = self.activations(X), self.output_grads(X)
        n, k = X.shape[0], self.n_outputs_
        blocks = []
        for a, d in zip(acts, dz):
            blocks += [np.einsum("ni,nko->nkio", a, d).reshape(n, k, -1), d]
        return np.concatenate(blocks, axis=2)

    # ---- training ------------------------------------------------------------------------
    def gradient(self, theta=None, weights=None):
        """∇L (P,) by autograd."""
        theta = self.theta_ if theta is None else theta
        return grad(self.objective)(theta, weights)

    def gradient_scale(self, theta, weights):
        """max_p of Σ_i w_i |J_i|ᵀ(|e_i| + |Λ_i f_i|) + δ|θ_p| (as for the GLMs), layer by layer
        without forming J: |J_ic| = |ā_i| ⊗ |∂f_ic/∂z_l| for the rows of [W_l; b_l]."""
        X, lik = self.X_, self.likelihood_
        f = self.outputs(theta, X)
        size = weights[:, None] * (np.abs(lik.errors(self.y_, f))
                                   + np.abs(np.einsum("nkl,nl->nk", lik.curvatures(self.y_, f), f)))
        parts = []
        for a, d in zip(self.activations(X, theta), self.output_grads(X, theta)):
            u = np.einsum("nk,nko->no", size, np.abs(d))
            parts += [(np.abs(a).T @ u).ravel(), u.sum(axis=0)]
        return float((np.concatenate(parts) + self.prior_precision_ * np.abs(theta)).max())

    def _minimise(self, theta, warm):
        """L-BFGS (skipped when a warm start is already close), then trust-region Newton-CG
        until max|∇L| ≤ tol · gradient_scale. BLAS runs single-threaded (small matrices)."""
        w = self.weights_
        fun = value_and_grad(lambda t: self.objective(t, w))
        n_iter = 0
        with single_threaded_blas():
            g, scale = fun(theta)[1], self.gradient_scale(theta, w)
            if not warm or np.abs(g).max() > FAR_FROM_MINIMUM * scale:
                res = minimize(fun, theta, jac=True, method="L-BFGS-B",
                               options={"maxiter": self.max_iter, "gtol": self.tol * scale, "maxcor": 30})
                theta, n_iter = res.x, res.nit
                g, scale = fun(theta)[1], self.gradient_scale(theta, w)
            if np.abs(g).max() > self.tol * scale:
                hvp = hessian_vector_product(lambda t: self.objective(t, w))
                res = minimize(fun, theta, jac=True, hessp=hvp, method="trust-ncg",
                               options={"gtol": 0.5 * self.tol * scale, "maxiter": 200})
                theta, n_iter = res.x, n_iter + res.nit
                g, scale = fun(theta)[1], self.gradient_scale(theta, w)
        self.n_iter_, self.grad_norm_, self.grad_scale_ = n_iter, float(np.abs(g).max()), scale
        return theta, False
