"""Perturbation explorers: a slider sets ONE training example's weight (0 = removed, 1 = as
trained, 2 = duplicated, up to 3) — or, in GroupExplorer, the common weight of a group — and the
figure shows the MPE's prediction next to the truth from retraining.

Every explorer can be driven without a browser: ``update(weight)`` recomputes the MPE estimate
and the refit, redraws, sets the readout and returns the numbers it shows. The figure is put
into the Output widget through its state (``plot.outputs``), so it renders the same in
JupyterLab, in a static HTML export and under nbval.

    >>> ex = linear_regression_explorer()       # the planted outlier of datasets.regression_1d
    >>> ex.update(0.0)["est"]                   # its own fitted value's change when removed
"""
import html

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import datasets, plots
from .models import LinearRegression, LogisticRegression, SoftmaxRegression
from .mpe import METHODS, Sensitivity
from .validation import check_choice, check_fitted_model, check_indices

WEIGHT_MIN, WEIGHT_MAX, WEIGHT_STEP = 0.0, 3.0, 0.05


class PerturbationExplorer:
    """A weight slider for one training example, a readout (MPE vs refit) and a figure.

    Subclasses define ``compute(weight) -> dict`` (with keys "est" and "true": the headline
    scalar), ``setup(fig)`` (draws what does not change and creates the artists that do, listed
    in ``self.moving``) and ``refresh(weight, result)`` (moves those artists). The still part is
    rendered once; each update redraws only the moving artists onto it (blitting), so an update
    costs a few milliseconds of drawing plus the PNG encoding.
    slow=True (for models whose refit takes a while) updates only when the slider is released
    and shows "computing…" while it works.
    """

    headline = "change"

    def __init__(self, model, example, method="mpe", slow=False, figsize=(9.0, 3.4), dpi=80):
        self.model = check_fitted_model(model, classifier=self.needs_classifier)
        if self.n_features is not None and model.X_.shape[1] != self.n_features:
            raise ValueError(f"{type(self).__name__} draws data with {self.n_features} feature(s); "
                             f"the model's X has {model.X_.shape[1]}")
        self.method = check_choice("method", method, METHODS)
        self.example = self.check_example(example)
        self.slow = slow
        self.sensitivity = Sensitivity(model)
        self.slider = widgets.FloatSlider(value=1.0, min=WEIGHT_MIN, max=WEIGHT_MAX,
                                          step=WEIGHT_STEP, description="weight",
                                          readout_format=".2f", continuous_update=not slow)
        self.slider.add_class("mpe-weight-slider")
        self.readout = widgets.HTML()
        self.readout.add_class("mpe-readout")
        self.plot = widgets.Output()
        self.plot.add_class("mpe-plot")
        self.box = widgets.VBox([self.slider, self.readout, self.plot])
        self.box.add_class("mpe-explorer")
        self._build_figure(figsize, dpi)
        self._syncing = False
        self.slider.observe(self._on_slider, names="value")
        self.last = self.update(self.slider.value)

    needs_classifier = None           # True / False where the explorer draws one kind only
    n_features = None                 # the number of input features the figure can draw

    def check_example(self, example):
        """The validated index of the perturbed example (a subclass may perturb a group)."""
        n = self.model.X_.shape[0]
        if isinstance(example, bool) or not isinstance(example, (int, np.integer)) \
                or not 0 <= example < n:
            raise ValueError(f"example must be an integer index in 0..{n - 1}; got {example!r}")
        return int(example)

    # ---- what a subclass provides ----------------------------------------------------------
    def compute(self, weight):
        raise NotImplementedError

    def setup(self, fig):
        raise NotImplementedError

    def refresh(self, weight, result):
        raise NotImplementedError

    # ---- the update --------------------------------------------------------------------
    def perturbed_weights(self, weight):
        """The model's weights with the chosen example's weight replaced (n,)."""
        w = self.model.weights_.copy()
        w[self.example] = weight
        return w

    def update(self, weight):
        """Recompute the MPE estimate and the refit for this weight, redraw, set the readout.

        Returns the numbers shown: a dict with at least "weight", "est" and "true"."""
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"weight must be a number in [{WEIGHT_MIN}, {WEIGHT_MAX}]; "
                             f"got {weight!r}") from None
        if not WEIGHT_MIN <= weight <= WEIGHT_MAX:
            raise ValueError(f"weight must be a number in [{WEIGHT_MIN}, {WEIGHT_MAX}]; got {weight}")
        if self.slider.value != weight:          # keep the slider in step when driven from code
            self._syncing = True
            try:
                self.slider.value = weight
            finally:
                self._syncing = False
        if self.slow:
            self.readout.value = (f"<b>computing…</b> refitting with weight "
                                  f"<span class=\"mpe-weight\">{weight:.2f}</span>")
        result = dict(self.compute(weight), weight=weight)
        self.refresh(weight, result)
        self.plot.outputs = (self._render(),)
        self.readout.value = self.readout_html(result)
        self.last = result
        return result

    def subject(self):
        return f"Example {self.example}"

    def readout_extra(self, r):
        """More readout text after the refit number (none by default)."""
        return ""

    def readout_html(self, r):
        form = "finite MPE form" if self.method == "mpe" else "first-order form"
        return (f"{self.subject()}, weight <span class=\"mpe-weight\">{r['weight']:.2f}</span>"
                f" &nbsp;|&nbsp; {html.escape(self.headline)}: MPE{self.estimate_name} "
                f"<span class=\"mpe-est\">{r['est']:.4f}</span> vs refit "
                f"<span class=\"mpe-true\">{r['true']:.4f}</span>{self.readout_extra(r)}"
                f" &nbsp;<small>({form})</small>")

    estimate_name = ""

    def _on_slider(self, change):
        if not self._syncing:
            self.update(change["new"])

    def _ipython_display_(self):
        from IPython.display import display
        display(self.box)

    # ---- drawing: the still part once, the moving artists on every update ------------------
    def _build_figure(self, figsize, dpi):
        self.fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.fig)
        self.moving = []
        self.setup(self.fig)
        for artist in self.moving:
            artist.set_animated(True)
        self.fig.canvas.draw()                  # lays out and draws the still part
        self.fig.set_layout_engine("none")      # freeze the layout
        self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)

    def _render(self):
        canvas = self.fig.canvas
        canvas.restore_region(self._background)
        for artist in self.moving:
            self.fig.draw_artist(artist)
        return plots.png_output(canvas)


class LinearRegressionExplorer(PerturbationExplorer):
    """1-D linear regression: the fitted line after re-weighting, MPE and refit drawn together
    (they coincide: the MPE is exact for a quadratic loss), and the parameter change as bars.

    Headline: Δf_i, the change of the chosen example's own fitted value."""

    headline = "Δf_i (change of this example's fitted value)"
    needs_classifier = False

    n_features = 1

    @property
    def grid(self):
        x = self.model.X_[:, 0]
        return np.linspace(x.min() - 0.3, x.max() + 0.3, 2)[:, None]

    def compute(self, weight):
        i, s = self.example, self.sensitivity
        refit = self.model.refit(self.perturbed_weights(weight))
        d_theta_est = s.param_change(i, weight, self.method)
        d_theta_true = refit.theta_ - self.model.theta_
        est = float(s.pred_change(i, weight, self.method)[0])
        true = float(refit.train_outputs()[i, 0] - s.outputs_[i, 0])
        return {"est": est, "true": true, "param_change_est": d_theta_est,
                "param_change_true": d_theta_true, "theta_refit": refit.theta_}

    def _line(self, theta):
        return self.model.with_theta(theta).predict(self.grid)

    def setup(self, fig):
        ax1, ax2 = fig.subplots(1, 2, width_ratios=(1.6, 1))
        m, xg, nan = self.model, self.grid[:, 0], np.full(2, np.nan)
        i = self.example
        plots.fitted_lines(ax1, m.X_, m.y_, {
            "trained (all weights 1)": (xg, m.predict(self.grid), {"color": plots.BEFORE_COLOR, "linestyle": ":"}),
            "MPE prediction": (xg, nan, {"color": plots.MPE_COLOR, "linewidth": 4, "alpha": 0.5}),
            "refit": (xg, nan, {"color": plots.REFIT_COLOR, "linestyle": "--"}),
        }, title="Re-weighting one example: MPE line and refit line coincide")
        self.line_est, self.line_true = ax1.get_lines()[-2:]
        self.marker, = ax1.plot(m.X_[i, 0], m.y_[i], "o", color="crimson", zorder=3,
                                label=f"example {i} (size = weight)")
        ax1.legend(fontsize=7, loc="upper left")
        # bar heights move; the axis range covers every weight on the slider
        grid = np.arange(WEIGHT_MIN, WEIGHT_MAX + WEIGHT_STEP / 2, WEIGHT_STEP)
        reach = max(np.abs(self.sensitivity.param_change(i, w, self.method)).max() for w in grid)
        zero = np.zeros(m.n_params_)
        plots.param_bars(ax2, ["intercept", "slope"], zero, zero)
        ax2.set_ylim(-1.15 * reach - 1e-9, 1.15 * reach + 1e-9)
        self.bars = [p for c in ax2.containers for p in c.patches]
        self.moving = [self.line_est, self.line_true, self.marker, *self.bars]

    def refresh(self, weight, r):
        self.line_est.set_ydata(self._line(self.model.theta_ + r["param_change_est"]))
        self.line_true.set_ydata(self._line(r["theta_refit"]))
        self.marker.set_markersize(10 if weight == 0 else 3 + 4 * weight)
        self.marker.set_markerfacecolor("none" if weight == 0 else "crimson")
        for bar, h in zip(self.bars, [*r["param_change_est"], *r["param_change_true"]]):
            bar.set_height(h)


class LogisticRegressionExplorer(PerturbationExplorer):
    """Binary logistic regression on 2-D data: the decision boundary moving with the weight
    (MPE vs refit), and the change of the example's probability against its weight for the
    finite and the first-order forms and the refit.

    Headline: Δp_i, the change of the chosen example's predicted probability P(y = 1)."""

    headline = "Δp_i (change of this example's predicted P(y=1))"
    needs_classifier = True

    n_features = 2

    def __init__(self, model, example, class_names=None, **kw):
        self.class_names = class_names
        super().__init__(model, example, **kw)

    def _prob(self, f):
        return float(self.model.likelihood_.probabilities(np.atleast_2d(f))[0, 1])

    def compute(self, weight):
        i, s = self.example, self.sensitivity
        refit = self.model.refit(self.perturbed_weights(weight))
        p0 = self._prob(s.outputs_[i])
        est = self._prob(s.outputs_[i] + s.pred_change(i, weight, self.method)) - p0
        true = self._prob(refit.train_outputs()[i]) - p0
        return {"est": est, "true": true,
                "theta_est": self.model.theta_ + s.param_change(i, weight, self.method),
                "theta_refit": refit.theta_}

    def curves(self):
        """Δp_i on the slider's grid of weights: finite form, first-order form, refit."""
        i, s = self.example, self.sensitivity
        grid = np.arange(WEIGHT_MIN, WEIGHT_MAX + WEIGHT_STEP / 2, WEIGHT_STEP)
        p0 = self._prob(s.outputs_[i])
        est = {m: [self._prob(s.outputs_[i] + s.pred_change(i, w, m)) - p0 for w in grid]
               for m in ("mpe", "influence")}
        true = [self._prob(self.model.refit(self.perturbed_weights(w)).train_outputs()[i]) - p0
                for w in grid]
        return grid, est, np.array(true)

    def setup(self, fig):
        ax1, ax2 = fig.subplots(1, 2)
        m, i = self.model, self.example
        nan = np.full(3, np.nan)
        plots.decision_boundaries(ax1, m.X_, m.y_, {
            "trained (all weights 1)": (m.theta_, {"color": plots.BEFORE_COLOR, "linestyle": ":"}),
            "MPE prediction": (nan, {"color": plots.MPE_COLOR, "linewidth": 4, "alpha": 0.5}),
            "refit": (nan, {"color": plots.REFIT_COLOR, "linestyle": "--"}),
        }, class_names=self.class_names, title=f"Decision boundary as example {i}'s weight changes")
        self.line_est, self.line_true = ax1.get_lines()[-2:]
        label_i = self.class_names[m.y_[i]] if self.class_names is not None else f"class {m.y_[i]}"
        self.marker, = ax1.plot(*m.X_[i], "*", color="crimson", markeredgecolor="crimson",
                                zorder=3, label=f"example {i}, {label_i} (size = weight)")
        ax1.legend(fontsize=7, loc="lower left")
        grid, est, true = self.curves()
        plots.change_curves(ax2, grid, {
            "MPE, finite form": (est["mpe"], {"color": plots.MPE_COLOR}),
            "MPE, first order": (est["influence"], {"color": plots.ALT_COLOR, "linestyle": "-."}),
            "refit": (true, {"color": plots.REFIT_COLOR, "linestyle": "--"}),
        }, ylabel=f"Δ P(y = 1) of example {i}",
            title="Δp vs weight: the finite form tracks the refit")
        self.vline = ax2.axvline(1.0, color="crimson", linewidth=1.2)
        self.moving = [self.line_est, self.line_true, self.marker, self.vline]

    def refresh(self, weight, r):
        x1 = self.line_est.get_xdata()
        for line, theta in ((self.line_est, r["theta_est"]), (self.line_true, r["theta_refit"])):
            line.set_ydata(-(theta[0] + theta[1] * x1) / theta[2])
        self.marker.set_markersize(14 if weight == 0 else 5 + 6 * weight)
        self.marker.set_markerfacecolor("none" if weight == 0 else "crimson")
        self.vline.set_xdata([weight, weight])


class DigitExplorer(PerturbationExplorer):
    """A digit classifier (softmax regression or MLP): the chosen image and its class
    probabilities before, as the MPE predicts and after refitting. Refit is slow for an MLP, so
    by default the figure updates when the slider is released and shows "computing…".

    Headline: Δp_i, the change of the probability of the example's TRUE class."""

    headline = "Δp_i (change of the probability of this example's true class)"
    needs_classifier = True

    n_features = 64

    def __init__(self, model, example, slow=True, **kw):
        super().__init__(model, example, slow=slow, **kw)

    def compute(self, weight):
        i, s, lik = self.example, self.sensitivity, self.model.likelihood_
        refit = self.model.refit(self.perturbed_weights(weight))
        y = self.model.y_[i]
        p0 = lik.probabilities(s.outputs_[i:i + 1])[0]
        p_est = lik.probabilities(s.outputs_[i:i + 1] + s.pred_change(i, weight, self.method))[0]
        p_true = lik.probabilities(refit.train_outputs()[i:i + 1])[0]
        return {"est": float(p_est[y] - p0[y]), "true": float(p_true[y] - p0[y]),
                "p_before": p0, "p_est": p_est, "p_true": p_true}

    def setup(self, fig):
        ax1, ax2 = fig.subplots(1, 2, width_ratios=(1, 3))
        i, m = self.example, self.model
        plots.image_row([ax1], datasets.as_images(m.X_[[i]]),
                        [f"example {i}, label {m.classes_[m.y_[i]]}"])
        k = len(m.classes_)
        p0 = m.likelihood_.probabilities(self.sensitivity.outputs_[i:i + 1])[0]
        plots.probability_bars(ax2, {"trained (weight 1)": p0, "MPE prediction": np.zeros(k),
                                     "refit": np.zeros(k)}, m.classes_,
                               title="Class probabilities of the example: trained, MPE, refit")
        self.bars = [p for c in ax2.containers[1:] for p in c.patches]
        self.moving = list(self.bars)

    def refresh(self, weight, r):
        for bar, h in zip(self.bars, [*r["p_est"], *r["p_true"]]):
            bar.set_height(h)


class GroupExplorer(PerturbationExplorer):
    """A GROUP of training examples of a classifier, all set to one common weight by the slider:
    the change of each member's predicted probability of its true class by the group form of the
    MPE (with the members' cross variances V_MM), by the sum of the members' single-example
    estimates (as if they did not interact), and by a refit; and, on the right, the mean of those
    changes against the weight.

    Headline: the mean over the members of Δp, the change of the probability of their true class.
    The refit starts from the last refit when that one's weight is nearer than the trained
    model's; Newton converges to the same optimum from either start, only in fewer steps."""

    headline = "mean Δp of the members' true class"
    needs_classifier = True

    def __init__(self, model, group, figsize=(10.0, 3.6), **kw):
        self._last_refit = None
        super().__init__(model, group, figsize=figsize, **kw)

    @property
    def group(self):
        return self.example

    def check_example(self, group):
        if np.ndim(group) != 1:
            raise ValueError(f"group must be a 1-D array of distinct example indices; got {group!r}")
        return check_indices(group, self.model.X_.shape[0], name="group").astype(int)

    # ---- the numbers ---------------------------------------------------------------------
    def _prepare(self):
        """The members' outputs, labels and true-class probabilities as trained."""
        s, idx = self.sensitivity, self.group
        self._JM = s.jacobians_[idx]                                      # (m, k, P)
        self._f0 = s.outputs_[idx]
        self._y = self.model.y_[idx]
        self._p0 = self._true_prob(self._f0)

    def _true_prob(self, f):
        return self.model.likelihood_.probabilities(f)[np.arange(len(self.group)), self._y]

    def estimates(self, weight):
        """Group form and sum of single-example estimates at this weight: Δθ (P,) and the members'
        Δp of their true class (m,), each. (Sensitivity keeps the group's solve with S, so a slider
        move costs only the small (mk × mk) solve.)"""
        s, idx, method = self.sensitivity, self.group, self.method
        d_theta = s.param_change(idx, weight, method)
        d_f = s.pred_change(idx, weight, method)
        d_theta_singles = sum(s.param_change(int(j), weight, method) for j in idx)
        d_f_singles = self._JM @ d_theta_singles                         # J_M Σ_j Δθ_j
        return {"param_change_est": d_theta, "param_change_singles": d_theta_singles,
                "pred_change_est": d_f, "pred_change_singles": d_f_singles,
                "dp_est": self._true_prob(self._f0 + d_f) - self._p0,
                "dp_singles": self._true_prob(self._f0 + d_f_singles) - self._p0}

    def refit(self, weight):
        """The model retrained with the group's weight set to ``weight``."""
        w = self.perturbed_weights(weight)
        start = None
        if self._last_refit is not None:
            last_w, last = self._last_refit
            if abs(weight - last_w) < np.abs(self.model.weights_[self.group] - weight).max():
                start = last.theta_
        refit = self.model.refit(w, warm_start=start)
        self._last_refit = (weight, refit)
        return refit

    def compute(self, weight):
        r = self.estimates(weight)
        refit = self.refit(weight)
        r["param_change_true"] = refit.theta_ - self.model.theta_
        r["pred_change_true"] = refit.train_outputs()[self.group] - self._f0
        r["dp_true"] = self._true_prob(self._f0 + r["pred_change_true"]) - self._p0
        r.update(est=float(r["dp_est"].mean()), true=float(r["dp_true"].mean()),
                 singles=float(r["dp_singles"].mean()))
        return r

    estimate_name = " group form"

    def subject(self):
        return f"Group of {len(self.group)} examples"

    def readout_extra(self, r):
        return f"; sum of single-example MPEs <span class=\"mpe-singles\">{r['singles']:.4f}</span>"

    # ---- the figure --------------------------------------------------------------------
    def setup(self, fig):
        self._prepare()
        idx, m = self.group, len(self.group)
        grid = np.arange(WEIGHT_MIN, WEIGHT_MAX + WEIGHT_STEP / 2, WEIGHT_STEP)
        on_grid = [self.estimates(w) for w in grid]
        dp_est = np.array([r["dp_est"] for r in on_grid])                # (grid, m)
        dp_single = np.array([r["dp_singles"] for r in on_grid])
        # the refit at every 0.5 (from weight 1 outwards, each started from its neighbour)
        coarse = np.full(len(grid), np.nan)
        dp_coarse = []
        for w in (0.5, 0.0, 1.5, 2.0, 2.5, 3.0):
            f = self.refit(w).train_outputs()[idx]
            dp_coarse.append(self._true_prob(f) - self._p0)
            coarse[np.argmin(np.abs(grid - w))] = dp_coarse[-1].mean()
        coarse[np.argmin(np.abs(grid - 1.0))] = 0.0
        reach = max(np.abs(dp_est).max(), np.abs(dp_single).max(), np.abs(dp_coarse).max(), 1e-6)

        ax1, ax2 = fig.subplots(1, 2, width_ratios=(1.5, 1))
        pos, width = np.arange(m), 0.8 / 3
        self.bars = []
        for j, (label, color) in enumerate((("MPE group form", plots.MPE_COLOR),
                                            ("sum of single-example MPEs", plots.ALT_COLOR),
                                            ("refit", plots.REFIT_COLOR))):
            c = ax1.bar(pos - 0.4 + width * (j + 0.5), np.zeros(m), width=width, color=color,
                        label=label)
            self.bars += list(c.patches)
        ax1.axhline(0, color="0.3", linewidth=0.8)
        classes = self.model.classes_
        ax1.set_xticks(pos, [f"{i}\n({classes[c]})" for i, c in zip(idx, self._y)], fontsize=7)
        ax1.set_ylim(-1.25 * reach, 1.25 * reach)
        ax1.set_xlabel("member of the group: training index (true class)")
        ax1.set_ylabel("Δ P(true class)")
        ax1.set_title("Each member's change: group form vs refit vs sum of singles", fontsize=10)
        ax1.legend(fontsize=7, loc="upper left", ncols=3)

        plots.change_curves(ax2, grid, {
            "MPE group form": (dp_est.mean(axis=1), {"color": plots.MPE_COLOR}),
            "sum of single-example MPEs": (dp_single.mean(axis=1),
                                           {"color": plots.ALT_COLOR, "linestyle": "-."}),
            "refit (every 0.5)": (coarse, {"color": plots.REFIT_COLOR, "marker": "s",
                                           "linestyle": "none"}),
        }, ylabel="mean Δ P(true class) of the members",
            title="Mean change vs the group's weight")
        ax2.title.set_fontsize(10)
        ax2.set_xlabel("common weight of the group (0 = removed)")
        self.vline = ax2.axvline(1.0, color="crimson", linewidth=1.2)
        self.point, = ax2.plot([1.0], [0.0], "o", color=plots.REFIT_COLOR, markersize=7,
                               markeredgecolor="crimson")
        self._last_refit = None
        self.moving = [*self.bars, self.vline, self.point]

    def refresh(self, weight, r):
        for bar, h in zip(self.bars, [*r["dp_est"], *r["dp_singles"], *r["dp_true"]]):
            bar.set_height(h)
        self.vline.set_xdata([weight, weight])
        self.point.set_data([weight], [r["true"]])


# ---- factories with deterministic defaults (the notebooks call these with no arguments) --------
def linear_regression_explorer(example=None, seed=0, delta=0.0, **kw):
    """datasets.regression_1d(seed=seed) and LinearRegression(delta, noise_var=1); the default
    example is the planted outlier (wrong about it, not uncertain)."""
    data = datasets.regression_1d(seed=seed)
    model = LinearRegression(delta=delta).fit(data.X_train, data.y_train)
    example = data.special_index if example is None else example
    return LinearRegressionExplorer(model, example, **kw)


def logistic_regression_explorer(example=None, seed=0, method="mpe", n=60, delta=1.0, **kw):
    """datasets.two_moons(n=60, seed=seed) and LogisticRegression(delta=1); the default example
    is the one whose removal changes its own prediction most (largest estimated deviation)."""
    data = datasets.two_moons(n=n, seed=seed)
    model = LogisticRegression(delta=delta).fit(data.X_train, data.y_train)
    if example is None:
        example = int(np.argmax(Sensitivity(model).sensitivities()))
    return LogisticRegressionExplorer(model, example, method=method,
                                      class_names=data.target_names, **kw)


def group_explorer(group=None, size=10, seed=0, n_train=200, delta=1.0, **kw):
    """datasets.digits(n_train=200, seed=0) and SoftmaxRegression(delta=1), as in notebook 6; the
    default group is the ``size`` examples with the largest estimated deviation."""
    data = datasets.digits(n_train=n_train, seed=seed)
    model = SoftmaxRegression(delta=delta).fit(data.X_train, data.y_train)
    if group is None:
        group = np.argsort(Sensitivity(model).sensitivities())[::-1][:size]
    return GroupExplorer(model, group, **kw)
