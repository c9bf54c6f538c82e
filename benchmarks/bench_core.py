"""Core benchmark: how fast and how accurate the MPE is next to the obvious alternatives.

Three problems, each measured side by side in one run (speed targets are RATIOS, so they do not
depend on how fast the machine is):

1. Linear regression: all-n exact leave-one-out outputs from ``Sensitivity.loo_outputs`` against
   scikit-learn's ``RidgeCV`` leave-one-out predictions on the same penalised problem.
2. Logistic regression: all-n one-step deletion estimates ``Sensitivity.param_changes(0.0)``
   against statsmodels' ``GLMInfluence.params_one``, against refitting without each example
   (brute force, extrapolated from a sample), and against one Newton step of the fit itself.
3. An MLP on the digits: fit time, time of all n full-GGN prediction variances V_i, and how well
   the estimated Δf_i correlate with the true Δf_i from retraining without example i.

``run(quick=False)`` returns the rows of the table: dicts with keys section, quantity,
measured (str), target (str), met (True / False / None when there is no target).
"""
import time
import warnings

import numpy as np
from tqdm.auto import tqdm

from mpe_teach import MLP, LinearRegression, LogisticRegression, Sensitivity
from mpe_teach.curvature import FullPrecision
from mpe_teach.datasets import digits

SECTION = "core"

# Problem sizes: the full benchmark and the tiny smoke-test version.
SIZES = {
    False: dict(lin_n=20000, lin_p=50, log_n=5000, log_p=50, n_refit=50, digits_n=None,
                hidden=(32,), mlp_top=25, mlp_random=25, repeats=5, mlp_repeats=3),
    True: dict(lin_n=400, lin_p=5, log_n=300, log_p=5, n_refit=5, digits_n=120,
               hidden=(8,), mlp_top=2, mlp_random=2, repeats=2, mlp_repeats=1),
}


# ---- timing helpers -----------------------------------------------------------------------
def median_time(fn, repeats):
    """Median wall-clock seconds of ``repeats`` calls of fn(); also returns the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def median_times_interleaved(fns, repeats):
    """Median seconds of each function in ``fns``, called in turn (A, B, A, B, …) so that load
    from other processes on the machine affects every contender alike. Returns (times, results)."""
    times, results = [[] for _ in fns], [None] * len(fns)
    for _ in range(repeats):
        for j, fn in enumerate(fns):
            t0 = time.perf_counter()
            results[j] = fn()
            times[j].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times], results


def row(quantity, measured, target="—", met=None):
    return dict(section=SECTION, quantity=quantity, measured=measured, target=target, met=met)


def seconds(t):
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


# ---- 1. linear regression: exact LOO vs RidgeCV -------------------------------------------
def linear_problem(n, p, seed=0):
    """y = 0.5 + X β + ε with X, β, ε standard normal."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = 0.5 + X @ rng.normal(size=p) + rng.normal(size=n)
    return X, y


def ridgecv_loo(X, y, alpha):
    """scikit-learn's efficient LOO predictions for ridge with a ones column and no separate
    intercept (so the intercept is penalised, as in mpe_teach). With a scoring set, RidgeCV
    stores the LOO predictions themselves in cv_results_."""
    from sklearn.linear_model import RidgeCV

    Phi = np.hstack([np.ones((X.shape[0], 1)), X])
    ridge = RidgeCV(alphas=[alpha], fit_intercept=False, scoring="neg_mean_squared_error",
                    store_cv_results=True).fit(Phi, y)
    return ridge.cv_results_[:, 0]


def bench_linear(cfg):
    n, p, delta, noise_var = cfg["lin_n"], cfg["lin_p"], 1.0, 1.0
    X, y = linear_problem(n, p)
    t_fit, model = median_time(lambda: LinearRegression(delta=delta, noise_var=noise_var).fit(X, y),
                               cfg["repeats"])
    (t_mpe, t_sk, t_end), (loo_mpe, loo_sk, loo_end) = median_times_interleaved(
        [lambda: Sensitivity(model).loo_outputs()[:, 0],
         lambda: ridgecv_loo(X, y, delta * noise_var),
         lambda: Sensitivity(LinearRegression(delta=delta, noise_var=noise_var).fit(X, y)).loo_outputs()[:, 0]],
        cfg["repeats"])
    ratio, diff = t_mpe / t_sk, float(np.max(np.abs(loo_mpe - loo_sk)))
    ratio_end, diff_end = t_end / t_sk, float(np.max(np.abs(loo_end - loo_sk)))
    return [
        row("linear LOO: problem", f"n={n}, p={p}, δ={delta}, noise_var={noise_var}"),
        row("linear LOO: fit time (LinearRegression.fit)", seconds(t_fit)),
        row("linear LOO: MPE time (Sensitivity + loo_outputs, all n)", seconds(t_mpe)),
        row("linear LOO: RidgeCV LOO time (all n)", seconds(t_sk)),
        row("linear LOO: time ratio MPE / RidgeCV", f"{ratio:.2f}×", "≤ 0.5×", ratio <= 0.5),
        row("linear LOO: max |MPE − RidgeCV| LOO prediction", f"{diff:.1e}", "≤ 1e-8", diff <= 1e-8),
        row("linear end to end: fit + all-n LOO outputs time", seconds(t_end)),
        row("linear end to end: time ratio (fit + MPE LOO) / RidgeCV fit with LOO",
            f"{ratio_end:.2f}×", "≤ 0.5×", ratio_end <= 0.5),
        row("linear end to end: max |MPE − RidgeCV| LOO prediction", f"{diff_end:.1e}", "≤ 1e-8",
            diff_end <= 1e-8),
    ]


# ---- 2. logistic regression: one-step deletion vs statsmodels, refits, a Newton step -------
def logistic_problem(n, p, seed=0):
    """Labels drawn from a logistic model with moderate signal: classes overlap, so the
    unpenalised (δ = 0) maximum-likelihood estimate exists and statsmodels can match it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    logits = 0.2 + X @ (0.3 * rng.normal(size=p))
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-logits))).astype(int)
    return X, y


def statsmodels_params_one(X, y, results=None):
    """statsmodels' Pregibon one-step estimates (n, P); fits the GLM first unless given one."""
    import statsmodels.api as sm

    if results is None:
        Phi = np.hstack([np.ones((X.shape[0], 1)), X])
        results = sm.GLM(y, Phi, family=sm.families.Binomial()).fit()
    return results.get_influence().params_one


def newton_step(model):
    """One iteration of the fit's Newton loop at theta_: gradient, GGN, Cholesky and solve
    (the same operations as the GLM fit, without the line search)."""
    return FullPrecision(model.precision_matrix()).solve(model.gradient())


def bench_logistic(cfg):
    import statsmodels.api as sm

    n, p, delta = cfg["log_n"], cfg["log_p"], 0.0
    X, y = logistic_problem(n, p)
    t_fit, model = median_time(lambda: LogisticRegression(delta=delta).fit(X, y), cfg["repeats"])
    Phi = np.hstack([np.ones((n, 1)), X])
    sm_results = sm.GLM(y, Phi, family=sm.families.Binomial()).fit()

    (t_mpe, t_sm, t_sm_inf, t_newton), (d_theta, one_sm, _, _) = median_times_interleaved(
        [lambda: Sensitivity(model).param_changes(0.0),
         lambda: statsmodels_params_one(X, y),
         lambda: statsmodels_params_one(X, y, sm_results),
         lambda: newton_step(model)], cfg["repeats"])
    diff = float(np.max(np.abs(model.theta_ + d_theta - one_sm)))

    # Brute force: retrain without example i for a random sample of i, extrapolate to all n.
    rng = np.random.default_rng(0)
    sample = rng.choice(n, size=cfg["n_refit"], replace=False)
    t_refit, exact_gap = [], 0.0
    for i in tqdm(sample, desc="logistic refits", leave=False):
        w = np.ones(n)
        w[i] = 0.0
        t0 = time.perf_counter()
        refit = model.refit(w)
        t_refit.append(time.perf_counter() - t0)
        exact_gap = max(exact_gap, float(np.max(np.abs(refit.theta_ - model.theta_ - d_theta[i]))))
    t_brute = float(np.mean(t_refit)) * n
    speedup = t_brute / t_mpe

    r_sm, r_sm_inf, r_newton = t_mpe / t_sm, t_mpe / t_sm_inf, t_mpe / t_newton
    return [
        row("logistic: problem", f"n={n}, p={p}, δ={delta:g} (classes overlap)"),
        row("logistic: fit time (Newton, cached Cholesky)",
            f"{seconds(t_fit)} ({model.n_iter_} iterations, max|∇L| = {model.grad_norm_:.1e})"),
        row("logistic: MPE time (Sensitivity + param_changes(0), all n)", seconds(t_mpe)),
        row("logistic: statsmodels GLM fit + params_one time", seconds(t_sm)),
        row("logistic: time ratio MPE / statsmodels (fit + params_one)", f"{r_sm:.3f}×", "≤ 0.3×",
            r_sm <= 0.3),
        row("logistic: time ratio MPE / statsmodels params_one alone (fitted GLM given)",
            f"{r_sm_inf:.3f}× ({seconds(t_sm_inf)})"),
        row("logistic: max |MPE − statsmodels params_one|", f"{diff:.1e}", "≤ 1e-8", diff <= 1e-8),
        row("logistic: brute-force refit time per example",
            f"{seconds(float(np.mean(t_refit)))} (mean of {len(sample)}; all n ≈ {seconds(t_brute)})"),
        row("logistic: speed-up MPE vs brute-force refits (extrapolated to n)", f"{speedup:,.0f}×",
            "≥ 1000×", speedup >= 1000),
        row("logistic: one Newton step time (gradient + GGN + Cholesky + solve)", seconds(t_newton)),
        row("logistic: time ratio MPE / one Newton step", f"{r_newton:.2f}×", "≤ 1.5×",
            r_newton <= 1.5),
        row("logistic: max |one-step Δθ − exact refit Δθ| (refit sample)", f"{exact_gap:.1e}"),
    ]


# ---- 3. MLP on the digits: speed and estimate-vs-refit correlation ------------------------
def bench_mlp(cfg):
    data = digits(n_train=cfg["digits_n"])
    X, y = data.X_train, data.y_train
    make = lambda: MLP(hidden=cfg["hidden"], delta=1.0, seed=0)
    t_fit, model = median_time(lambda: make().fit(X, y), cfg["mlp_repeats"])
    t_var, sens = median_time(lambda: _with_variances(Sensitivity(model)), cfg["mlp_repeats"])

    # 50 examples: the most sensitive by the estimated deviation, plus random others.
    order = np.argsort(sens.sensitivities())[::-1]
    top = order[:cfg["mlp_top"]]
    rng = np.random.default_rng(0)
    rest = rng.choice(order[cfg["mlp_top"]:], size=cfg["mlp_random"], replace=False)
    chosen = np.concatenate([top, rest])

    f0 = model.train_outputs()
    est, true, t_refit, t_warm, it_star, it_mpe, grad_max, gap = [], [], [], [], [], [], 0.0, 0.0
    for i in tqdm(chosen, desc="MLP refits", leave=False):
        w = np.ones(len(y))
        w[i] = 0.0
        # interleaved: the refit from θ* and the refit from the MPE's θ* + Δθ_i
        t0 = time.perf_counter()
        refit = model.refit(w)
        t_refit.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        warm = model.refit(w, warm_start=model.theta_ + sens.param_change(int(i), 0.0))
        t_warm.append(time.perf_counter() - t0)
        it_star.append(refit.n_iter_)
        it_mpe.append(warm.n_iter_)
        gap = max(gap, float(np.abs(warm.train_outputs()[i] - refit.train_outputs()[i]).max()))
        grad_max = max(grad_max, float(refit.grad_norm_ / refit.grad_scale_))
        true.append(refit.train_outputs()[i] - f0[i])
        est.append(sens.pred_change(int(i), 0.0))
    speedup = float(np.sum(t_refit) / np.sum(t_warm))
    est, true = np.ravel(est), np.ravel(true)
    r = float(np.corrcoef(est, true)[0, 1])
    r_top = float(np.corrcoef(est[:len(top) * model.n_outputs_], true[:len(top) * model.n_outputs_])[0, 1])
    return [
        row("MLP digits: problem", f"n={len(y)}, {X.shape[1]}-{'-'.join(map(str, cfg['hidden']))}-"
            f"{model.n_outputs_} tanh, P={model.n_params_}, δ=1"),
        row("MLP digits: fit time", f"{seconds(t_fit)} (max|∇L| = {model.grad_norm_:.1e})", "≤ 5 s",
            t_fit <= 5.0),
        row("MLP digits: all-n full-GGN V_i time (Sensitivity + variances_)", seconds(t_var), "≤ 10 s",
            t_var <= 10.0),
        row("MLP digits: Pearson r, estimated vs true Δf_i (refit without i)",
            f"{r:.3f} ({len(chosen)} examples × {model.n_outputs_} outputs; "
            f"{len(top)} most sensitive alone: {r_top:.3f})"),
        row("MLP digits: max |estimated − true Δf_i| / max |true Δf_i|",
            f"{np.max(np.abs(est - true)):.3f} / {np.max(np.abs(true)):.3f}"),
        row("MLP digits: refit tolerance achieved (max over refits of max|∇L| / gradient scale)",
            f"{grad_max:.1e} (tol {model.tol:g})"),
        row("MLP digits: refit time per example, warm start θ*", f"{seconds(float(np.mean(t_refit)))} "
            f"(mean of {len(chosen)}; {np.mean(it_star):.1f} Newton-CG iterations)"),
        row("MLP digits: refit time per example, warm start θ* + Δθ (the MPE)",
            f"{seconds(float(np.mean(t_warm)))} ({np.mean(it_mpe):.1f} iterations)"),
        row("MLP digits: speed-up of the MPE warm start (same tolerance)", f"{speedup:.2f}×", "≥ 2×",
            speedup >= 2.0),
        row("MLP digits: max |f_i from θ* start − f_i from MPE start|", f"{gap:.1e}"),
    ]


def _with_variances(sens):
    sens.variances_
    return sens


def run(quick=False):
    """All rows of the core benchmark (tiny problem sizes when quick)."""
    cfg = SIZES[bool(quick)]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        for part in (bench_linear, bench_logistic, bench_mlp):
            rows += part(cfg)
    return rows
