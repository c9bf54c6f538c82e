"""Explorers: change the training data with the pointer or a slider and watch the MPE's
prediction beside the truth from retraining.

- ``LinearRegressionExplorer`` and ``LogisticRegressionExplorer`` (2-D data, notebooks 1 and 4):
  click a point to select it (the weight slider then drives it), drag it somewhere else, add a new
  point with a chosen label; a heat map, the *sensitivity field*, shows how much a new point
  placed anywhere on the plane would move the model; a δ slider refits the model; a toggle
  switches between the finite and the first-order form.
- ``DigitExplorer`` (a digit classifier, notebook 5): one image's weight; an MLP refit is
  warm-started at the MPE's prediction.
- ``StructureExplorer`` (notebook 5): the curvature structure (full, diagonal, KFAC, last layer)
  and how its estimates correlate with refits.
- ``TrainingExplorer`` (notebook 6): a checkpoint slider through training, the LOO estimate
  beside the test loss.
- ``GroupExplorer`` and ``DeltaExplorer`` (notebook 7): a group's common weight; δ along the LOO
  curve.

Every control can also be driven from Python and returns the numbers it shows, a dict with at
least "est" (the MPE) and "true" (the refit, or the held-out quantity the estimate predicts):
``update(weight)``, ``select(i)``, ``move(i, xy)``, ``add(xy, label)``,
``set(delta=..., method=..., structure=..., checkpoint=...)`` (the arguments that apply), and
``recompute()`` recomputes the current state from scratch (a fresh ``Sensitivity``, a refit from
the default start) to check what is shown.

Figures are drawn with matplotlib's Agg backend and sent as a PNG (an ``ipywidgets.Image``):
what does not change is drawn once, each update redraws only the moving artists onto it
(blitting). Pointer events come from ipyevents, in the image's own pixels.

    >>> ex = logistic_regression_explorer()
    >>> ex.select(7); ex.update(0.0)["est"]      # example 7 removed: the change of its P(y=1)
    >>> ex.move(7, (0.5, 0.2))["true"]           # moved: the refit's change at its new place
"""
import asyncio
import copy
import functools
import html
import itertools
import weakref

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox
from sklearn.base import clone

from . import datasets, plots
from .blas import single_threaded_blas
from .models import LinearRegression, LogisticRegression, SoftmaxRegression
from .mpe import METHODS, Sensitivity
from .validation import check_choice, check_fitted_model, check_float, check_indices

WEIGHT_MIN, WEIGHT_MAX, WEIGHT_STEP = 0.0, 3.0, 0.05
# the two forms the method toggle offers (the others stay available from Python)
FORMS = (("finite form", "mpe"), ("first order", "influence"))
FORM_NAMES = {"mpe": "finite MPE form", "influence": "first-order form",
              "official": "paper's code's form", "auto": "automatic form"}
# the δ values the δ slider offers (the model's own δ is added when it is not among them)
DELTAS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
SETTLE_SECONDS = 0.3         # a slow explorer refits once its slider has rested this long
PICK_RADIUS = 12.0            # pixels: a press this close to a point selects it
# An MLP refit (DigitExplorer) converges to this relative gradient tolerance from the MPE's
# prediction: measured on digits, its Δp agrees with a refit to the model's tol within 4e-8.
MLP_REFIT_TOL = 1e-6


def _one_thread(method):
    """Run an explorer's control with BLAS on one thread: its matrices are small, and a second
    BLAS thread made each small solve ~30x slower on a 2-core machine (measured: 4 ms for a
    10 x 10 solve)."""
    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        with single_threaded_blas():
            return method(*args, **kwargs)
    return wrapped


def _span(cls, text):
    return f'<span class="{cls}">{html.escape(text)}</span>'


class Explorer:
    """What every explorer shares: controls, a readout (HTML), a figure (an Image widget) drawn
    by blitting, and ``last``, the numbers shown. Subclasses provide ``setup(fig)`` (draw the
    still part; list the changing artists in ``self.moving``), ``refresh(result)`` (move them),
    ``readout_html(result)`` and ``summary()`` (one line shown where widgets cannot render).

    Each explorer has a ``key`` (also a CSS class ``mpe-key-<key>`` on its box), and
    ``Explorer.find(key)`` returns it: how a test that drives the page finds the explorer
    behind it in the kernel."""

    _live = weakref.WeakValueDictionary()
    _keys = itertools.count(1)

    @classmethod
    def find(cls, key):
        """The live explorer whose box carries the class ``mpe-key-<key>``."""
        return cls._live[key]

    def _build_view(self, controls, figsize, dpi):
        self.key = f"x{next(Explorer._keys)}"
        Explorer._live[self.key] = self
        self.readout = widgets.HTML()
        self.readout.add_class("mpe-readout")
        self.plot = widgets.Image(format="png")
        self.plot.add_class("mpe-plot")
        self.plot.layout.max_width = "100%"
        self.controls = widgets.VBox(controls)
        self.box = widgets.VBox([self.controls, self.readout, self.plot])
        self.box.add_class("mpe-explorer")
        self.box.add_class(f"mpe-key-{self.key}")
        self.box.add_class(f"mpe-kind-{type(self).__name__}")
        self.fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        FigureCanvasAgg(self.fig)
        self.moving = []
        self.setup(self.fig)
        self.fig.canvas.draw()                  # lays out the figure once
        self.fig.set_layout_engine("none")      # and freezes the layout
        self.redraw_background()

    def redraw_background(self):
        """Draw the still part (every artist but the moving ones) and keep it for blitting."""
        for artist in self.moving:
            artist.set_animated(True)
        self.fig.canvas.draw()
        self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)

    def render(self):
        """PNG bytes of the figure: the kept still part plus the moving artists."""
        canvas = self.fig.canvas
        canvas.restore_region(self._background)
        for artist in self.moving:
            self.fig.draw_artist(artist)
        return plots.png_bytes(canvas)

    def show(self, result):
        """Redraw and set the readout for ``result``; returns it (also kept as ``last``)."""
        self.refresh(result)
        self.plot.value = self.render()
        self.readout.value = self.readout_html(result)
        self.last = result
        return result

    def summary(self):
        r = getattr(self, "last", None)
        at = "" if r is None or "weight" not in r else f" at weight {r['weight']:.2f}"
        numbers = "" if r is None else f"{at}: MPE {r['est']:.4f}, truth {r['true']:.4f}"
        return (f"{type(self).__name__}{numbers} (an interactive widget: run the cells above in "
                "Jupyter to use it)")

    def _repr_mimebundle_(self, **kwargs):
        # where the widget cannot be drawn (a notebook opened before running, a static view),
        # show one line that agrees with the numbers instead of the widget's raw repr
        bundle = self.box._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        return {**bundle, "text/plain": self.summary()}

    # ---- method toggle shared by the MPE explorers ---------------------------------------------
    def _method_toggle(self, method):
        values = [v for _, v in FORMS]
        options = list(FORMS) + ([] if method in values else [(FORM_NAMES[method], method)])
        toggle = widgets.ToggleButtons(options=options, value=method, description="MPE form",
                                       style={"button_width": "92px"})
        toggle.add_class("mpe-method")
        return toggle


class PerturbationExplorer(Explorer):
    """A weight slider for one training example (0 = removed, 1 = as trained, 2 = counted twice,
    up to 3), a finite / first-order toggle, a readout (MPE vs refit) and a figure.

    Subclasses define ``compute(weight) -> dict`` (with keys "est" and "true": the headline
    scalar), ``setup(fig)`` and ``refresh(result)``. slow=True (models whose refit takes a
    while): while the slider is dragged the readout says it belongs to the last weight computed,
    and the refit runs once the slider rests."""

    headline = "change"
    estimate_name = ""
    needs_classifier = None           # True / False where the explorer draws one kind only
    n_features = None                 # the number of input features the figure can draw

    @_one_thread
    def __init__(self, model, example, method="mpe", slow=False, figsize=(9.0, 3.4), dpi=80):
        self.model = check_fitted_model(model, classifier=self.needs_classifier)
        if self.n_features is not None and model.X_.shape[1] != self.n_features:
            raise ValueError(f"{type(self).__name__} draws data with {self.n_features} feature(s); "
                             f"the model's X has {model.X_.shape[1]}")
        self.method = check_choice("method", method, METHODS)
        self.example = self.check_example(example)
        self.slow = slow
        self.sensitivity = Sensitivity(self.model)
        self.slider = widgets.FloatSlider(value=1.0, min=WEIGHT_MIN, max=WEIGHT_MAX,
                                          step=WEIGHT_STEP, description="weight",
                                          readout_format=".2f", continuous_update=True)
        self._pending = None
        self.slider.add_class("mpe-weight-slider")
        self.method_toggle = self._method_toggle(self.method)
        self._syncing = False
        self._build_view(self.extra_controls() + [self.slider, self.method_toggle], figsize, dpi)
        self.slider.observe(self._on_slider, names="value")
        self.method_toggle.observe(self._on_method, names="value")
        self.update(self.slider.value)

    def extra_controls(self):
        """Controls above the weight slider (none by default)."""
        return []

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

    def refresh(self, result):
        raise NotImplementedError

    # ---- the controls, from Python -----------------------------------------------------------
    def perturbed_weights(self, weight):
        """The model's weights with the chosen example's weight replaced (n,)."""
        w = self.model.weights_.copy()
        w[self.example] = weight
        return w

    def check_weight(self, weight):
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"weight must be a number in [{WEIGHT_MIN}, {WEIGHT_MAX}]; "
                             f"got {weight!r}") from None
        if not WEIGHT_MIN <= weight <= WEIGHT_MAX:
            raise ValueError(f"weight must be a number in [{WEIGHT_MIN}, {WEIGHT_MAX}]; got {weight}")
        return weight

    def _set_quietly(self, control, value):
        """Move a control to ``value`` without triggering its observer (driven from code)."""
        if control.value != value:
            self._syncing = True
            try:
                control.value = value
            finally:
                self._syncing = False

    @_one_thread
    def update(self, weight):
        """The weight slider: recompute the MPE estimate and the refit for this weight, redraw,
        set the readout. Returns the numbers shown: a dict with at least "weight", "est" and
        "true"."""
        weight = self.check_weight(weight)
        self._set_quietly(self.slider, weight)
        if self.slow:
            self.readout.value = (f"<b>computing…</b> refitting with weight "
                                  f"{_span('mpe-pending', f'{weight:.2f}')}")
        return self.show(dict(self.compute(weight), weight=weight, method=self.method))

    @_one_thread
    def set(self, method=None):
        """The method toggle ("mpe": finite form, "influence": first order, or "official",
        "auto"): recompute with that form; returns the numbers shown."""
        if method is not None:
            self.method = check_choice("method", method, METHODS)
            if self.method not in [v for _, v in self.method_toggle.options]:
                self.method_toggle.options = [*self.method_toggle.options,
                                              (FORM_NAMES[self.method], self.method)]
            self._set_quietly(self.method_toggle, self.method)
            self.method_changed()
        return self.update(self.slider.value)

    def method_changed(self):
        """Redraw what depends on the form (nothing by default)."""

    @_one_thread
    def recompute(self):
        """The current state's numbers from scratch: a fresh Sensitivity of the model and a refit
        from the model's default start (a check on what the readout shows)."""
        fresh = Sensitivity(self.model)
        kept, self.sensitivity = self.sensitivity, fresh
        try:
            return dict(self.compute(self.last["weight"], cold=True), weight=self.last["weight"])
        finally:
            self.sensitivity = kept

    # ---- the readout -------------------------------------------------------------------------
    def subject(self):
        return f"Example {self.example}"

    def readout_extra(self, r):
        """More readout text after the refit number (none by default)."""
        return ""

    def readout_html(self, r):
        return (f"{self.subject()}, weight {_span('mpe-weight', format(r['weight'], '.2f'))}"
                f" &nbsp;|&nbsp; {html.escape(self.headline)}: MPE{self.estimate_name} "
                f"{_span('mpe-est', format(r['est'], '.4f'))} vs refit "
                f"{_span('mpe-true', format(r['true'], '.4f'))}{self.readout_extra(r)}"
                f" &nbsp;<small>({FORM_NAMES[self.method]})</small>")

    # ---- events ------------------------------------------------------------------------------
    def _on_slider(self, change):
        if self._syncing:
            return
        # a move made in the browser (ipywidgets locks the property while applying it)
        from_browser = "value" in getattr(self.slider, "_property_lock", {})
        if self.slow and from_browser:
            self._defer(change["new"])
        else:
            self.update(change["new"])

    def _on_method(self, change):
        if not self._syncing:
            self.set(method=change["new"])

    def _defer(self, weight):
        """A slow explorer's slider moved in the browser: say at once that the readout belongs
        to the last weight computed, and refit when the slider has rested for SETTLE_SECONDS
        (every further move restarts the wait). Without a running event loop (code driving the
        explorer, a test), update at once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self.update(weight)
        if getattr(self, "last", None) is not None:
            self.readout.value = (
                f"<b>stale</b> while you drag: the numbers below are for weight "
                f"{self.last['weight']:.2f}, not {_span('mpe-pending', format(weight, '.2f'))}; "
                f"the refit starts when the slider rests<br>{self.readout_html(self.last)}")
        if self._pending is not None:
            self._pending.cancel()
        self._pending = loop.call_later(SETTLE_SECONDS, self._settle)
        return None

    def _settle(self):
        self._pending = None
        try:
            self.update(self.slider.value)
        except Exception as err:       # shown where the learner looks, not lost in a log
            self.readout.value = f"<b>error</b>: {html.escape(f'{type(err).__name__}: {err}')}"


# ==================================================================================== 2-D data
class PlaneExplorer(PerturbationExplorer):
    """2-D data you can touch: click a point to select it (the weight slider drives the selected
    point), drag it to move it, switch the pointer to "add a point" and click to add one; a δ
    slider refits the model; the heat map (the sensitivity field) shows how much a new point
    placed there would change the model's predictions on the training data.

    One change at a time, always from the trained model: selecting a point undoes the last move
    or addition. Moving example i to x is the group form with weight changes −1 (at its old
    place) and +1 (at x); adding a point is a weight change 0 → w for data the model has never
    seen. The refit for a move or an addition is a new fit to the changed data, warm-started at
    the MPE's prediction (the optimum does not depend on the start: the models are convex).

    Subclasses define how the data sit on the plane (``plane_points``, ``example_at``), the
    headline output (``output``) and the figure's model lines (``draw_model``)."""

    field_grid = (48, 36)
    param_names = ()

    @_one_thread
    def __init__(self, model, example, method="mpe", field=True, deltas=DELTAS,
                 figsize=(10.0, 4.8), dpi=80, **kw):
        self.action = {"kind": "weight", "example": int(example)}
        self.show_field = bool(field)
        self._deltas = deltas
        self._drag = None
        self._field_values = None
        super().__init__(model, example, method=method, figsize=figsize, dpi=dpi, **kw)
        self._watch_pointer()

    # ---- what a subclass provides --------------------------------------------------------------
    def plane_points(self):
        """Where the training examples sit on the plane (n, 2)."""
        raise NotImplementedError

    def example_at(self, xy, label=None):
        """The example (x row (d,), target as the model takes it) that a point at ``xy`` stands
        for; ``label`` is a class index for classifiers (ignored where the plane gives y)."""
        raise NotImplementedError

    def output(self, f):
        """The headline output for outputs f (m, k): f itself or a probability (m,)."""
        raise NotImplementedError

    def draw_model(self, line, theta):
        raise NotImplementedError

    def label_control(self):
        """A control choosing the label of added points (None when the plane gives it)."""
        return None

    # ---- controls ----------------------------------------------------------------------------
    def extra_controls(self):
        delta = float(self.model.delta)
        options = sorted({*map(float, self._deltas), delta})
        self.delta_slider = widgets.SelectionSlider(options=[(f"{d:g}", d) for d in options],
                                                    value=delta, description="δ (prior)",
                                                    continuous_update=False)
        self.delta_slider.add_class("mpe-delta-slider")
        self.mode = widgets.ToggleButtons(options=[("select / drag", "select"),
                                                   ("add a point", "add")], value="select",
                                          description="pointer", style={"button_width": "110px"})
        self.mode.add_class("mpe-mode")
        self.field_box = widgets.Checkbox(value=self.show_field, description="sensitivity field",
                                          indent=False)
        self.field_box.add_class("mpe-field")
        self.label = self.label_control()
        row = [self.mode] + ([self.label] if self.label is not None else []) + [self.field_box]
        self.delta_slider.observe(lambda c: None if self._syncing else self.set(delta=c["new"]),
                                  names="value")
        self.field_box.observe(lambda c: None if self._syncing else self.set(field=c["new"]),
                               names="value")
        if self.label is not None:
            self.label.observe(lambda c: None if self._syncing else self.set(label=c["new"]),
                               names="value")
        return [widgets.HBox(row), self.delta_slider]

    def _watch_pointer(self):
        from ipyevents import Event

        self._press_events = Event(source=self.plot, prevent_default_action=True,
                                   watched_events=["mousedown", "mouseup", "mouseleave"])
        self._press_events.on_dom_event(self._on_pointer)
        self._move_events = Event(source=self.plot, watched_events=["mousemove"],
                                  throttle_or_debounce="throttle", wait=40)
        self._move_events.on_dom_event(self._on_pointer)

    # ---- pixels <-> data ---------------------------------------------------------------------
    def pixel_of(self, xy):
        """Image pixel (x right, y down) of a point of the plane (what ipyevents reports)."""
        px, py = self.ax_plane.transData.transform(np.asarray(xy, dtype=float))
        return float(px), float(self.fig.bbox.height - py)

    def data_xy(self, px, py):
        """The point of the plane at image pixel (px, py), or None outside the plane's axes."""
        display = (float(px), float(self.fig.bbox.height - py))
        if not self.ax_plane.bbox.contains(*display):
            return None
        x, y = self.ax_plane.transData.inverted().transform(display)
        return float(x), float(y)

    def nearest(self, px, py):
        """The training example drawn within PICK_RADIUS pixels of (px, py), or None."""
        pts = self.ax_plane.transData.transform(self.plane_points())
        d = np.hypot(pts[:, 0] - px, pts[:, 1] - (self.fig.bbox.height - py))
        i = int(np.argmin(d))
        return i if d[i] <= PICK_RADIUS else None

    # ---- events ------------------------------------------------------------------------------
    def _on_pointer(self, event):
        kind, px, py = event.get("type"), event.get("dataX"), event.get("dataY")
        if px is None or py is None:
            return
        xy = self.data_xy(px, py)
        if kind == "mousedown":
            if xy is None:
                return
            if self.mode.value == "add":
                self.add(xy, self.label.value if self.label is not None else None)
                return
            i = self.nearest(px, py)
            if i is not None:
                self._drag = (i, False)
                if self.action != {"kind": "weight", "example": i} or self.slider.value != 1.0:
                    self.select(i)
        elif kind == "mousemove":
            if self._drag is not None and xy is not None and event.get("buttons", 1):
                self._drag = (self._drag[0], True)
                self.move(self._drag[0], xy)
        elif kind in ("mouseup", "mouseleave"):
            if self._drag is not None and self._drag[1] and xy is not None:
                self.move(self._drag[0], xy)
            self._drag = None

    # ---- the actions, from Python ------------------------------------------------------------
    @_one_thread
    def select(self, i):
        """Select training example i: the weight slider drives it from now on (at weight 1, as
        trained; the last move or addition is undone). Returns the numbers shown (all 0)."""
        i = self.check_example(i)
        self.example = i
        self.action = {"kind": "weight", "example": i}
        return self.update(1.0)

    @_one_thread
    def move(self, i, xy):
        """Move training example i to ``xy`` on the plane (keeping its label): the MPE's group
        form with Δw = −1 at the old place and +1 at the new one, beside a refit to the moved
        data. Returns the numbers shown: "est"/"true" are the change of the output at the new
        place."""
        i = self.check_example(i)
        self.example = i
        self.action = {"kind": "move", "example": i, "xy": self._check_xy(xy)}
        self._set_quietly(self.slider, 1.0)
        return self.show(dict(self.compute(1.0), weight=1.0, method=self.method))

    @_one_thread
    def add(self, xy, label=None):
        """Add a new example at ``xy`` (with ``label`` where the plane does not give it) at
        weight 1 — data the model has never seen, Δw = 0 → 1. The weight slider then drives its
        weight. Returns the numbers shown: the change of the output at the new point."""
        xy = self._check_xy(xy)
        label = self.check_label(label)
        if self.label is not None and label != self.label.value:
            self._set_quietly(self.label, label)     # the field is for this class now
            self.draw_still()
            self.redraw_plane()
        self.action = {"kind": "add", "xy": xy, "label": label}
        self._set_quietly(self.slider, 1.0)
        return self.show(dict(self.compute(1.0), weight=1.0, method=self.method))

    @_one_thread
    def update(self, weight):
        """The weight slider: the weight of the selected example (or of the added point)."""
        if self.action["kind"] == "move":             # a weight undoes the move
            self.action = {"kind": "weight", "example": self.example}
        return super().update(weight)

    @_one_thread
    def set(self, delta=None, method=None, field=None, label=None):
        """δ refits the model (and the field, and the current change); method switches the form;
        field shows or hides the heat map; label is the class of added points (and of the field's
        imagined new point). Returns the numbers shown."""
        background = False
        if delta is not None:
            delta = check_float("delta", delta, low=0.0)
            self._refit_base(delta)
            background = True
        if field is not None:
            self.show_field = bool(field)
            self._set_quietly(self.field_box, self.show_field)
            background = True
        if label is not None and self.label is not None:
            self._set_quietly(self.label, self.check_label(label))
            if self.action["kind"] == "add":
                self.action = dict(self.action, label=self.label.value)
            background = True
        if method is not None:
            self.method = check_choice("method", method, METHODS)
            self._set_quietly(self.method_toggle, self.method)
            background = True
        if background:
            self.draw_still()
            self.redraw_plane()
        weight = self.slider.value
        return self.show(dict(self.compute(weight), weight=weight, method=self.method))

    def _refit_base(self, delta):
        """The model refitted with prior precision δ (warm-started at the current θ*)."""
        m = self.model
        y = m.classes_[m.y_] if m.likelihood_.is_classifier else m.y_
        new = clone(m).set_params(delta=delta).fit(m.X_, y, m.weights_, warm_start=m.theta_)
        self.model, self.sensitivity = new, Sensitivity(new)
        self._set_quietly(self.delta_slider, delta)

    def _check_xy(self, xy):
        xy = np.asarray(xy, dtype=float)
        if xy.shape != (2,) or not np.all(np.isfinite(xy)):
            raise ValueError(f"xy must be a point (x, y) on the plane; got {xy!r}")
        return (float(xy[0]), float(xy[1]))

    def check_label(self, label):
        return None

    def label_name(self, label):
        return str(label)

    # ---- the numbers -------------------------------------------------------------------------
    def changed_data(self, weight):
        """The training data after the current change: X (n', d), targets (n',), weights (n'),
        and the row whose output is the headline (the example, or the moved / added point)."""
        m, a = self.model, self.action
        y = m.classes_[m.y_] if m.likelihood_.is_classifier else m.y_.copy()
        X, w = m.X_.copy(), m.weights_.copy()
        if a["kind"] == "weight":
            w[a["example"]] = weight
            return X, y, w, a["example"]
        if a["kind"] == "move":
            X[a["example"]], y[a["example"]] = self.example_at(a["xy"], m.y_[a["example"]])
            return X, y, w, a["example"]
        x_new, y_new = self.example_at(a["xy"], a["label"])
        return (np.vstack([X, x_new]), np.append(y, y_new), np.append(w, weight), len(X))

    def estimate(self, weight):
        """Δθ (P,) and the change of the headline row's outputs (k,) by the MPE."""
        s, a, m = self.sensitivity, self.action, self.model
        if a["kind"] == "weight":
            d_theta, d_f = s.data_change([a["example"]], weight, method=self.method)
        elif a["kind"] == "move":
            i = a["example"]
            x_new, y_new = self.example_at(a["xy"], m.y_[i])
            d_theta, d_f = s.data_change([i], 0.0, X_add=x_new[None], y_add=[y_new],
                                         method=self.method)
        else:
            x_new, y_new = self.example_at(a["xy"], a["label"])
            d_theta, d_f = s.data_change(X_add=x_new[None], y_add=[y_new], add_weights=weight,
                                         method=self.method)
        return d_theta, d_f[-1]

    def compute(self, weight, cold=False):
        m = self.model
        X, y, w, row = self.changed_data(weight)
        d_theta, d_f = self.estimate(weight)
        x_row = X[row:row + 1]
        f0 = m.outputs(m.theta_, x_row)
        start = None if cold else m.theta_ + d_theta
        if self.action["kind"] == "weight":
            refit = m.refit(w, warm_start=start)
        else:
            refit = clone(m).fit(X, y, w, warm_start=start if not cold else None)
        before = self.output(f0)[0]
        est = self.output(f0 + d_f)[0] - before
        true = self.output(refit.outputs(refit.theta_, x_row))[0] - before
        return {"est": float(est), "true": float(true), "kind": self.action["kind"],
                "example": None if self.action["kind"] == "add" else self.example,
                "xy": self.action.get("xy"), "label": self.action.get("label"),
                "delta": float(m.delta), "param_change_est": d_theta,
                "param_change_true": refit.theta_ - m.theta_,
                "theta_est": m.theta_ + d_theta, "theta_refit": refit.theta_}

    @_one_thread
    def recompute(self):
        kept, self.sensitivity = self.sensitivity, Sensitivity(self.model)
        try:
            weight = self.last["weight"]
            return dict(self.compute(weight, cold=True), weight=weight, method=self.method)
        finally:
            self.sensitivity = kept

    @_one_thread
    def field(self):
        """The sensitivity field on the plane's grid: for a new point placed at each grid point
        (with the chosen label), the mean over the training examples of the size of the change of
        their headline output, |Δf| or |Δp|, by the current form. Returns (xs, ys, values)."""
        (x0, x1), (y0, y1) = self.ax_plane.get_xlim(), self.ax_plane.get_ylim()
        xs, ys = np.linspace(x0, x1, self.field_grid[0]), np.linspace(y0, y1, self.field_grid[1])
        gx, gy = np.meshgrid(xs, ys)
        label = self.label.value if self.label is not None else None
        rows = [self.example_at((a, b), label) for a, b in zip(gx.ravel(), gy.ravel())]
        X_new = np.array([r[0] for r in rows])
        y_new = np.array([r[1] for r in rows])
        s = self.sensitivity
        d_theta, _ = s.addition_changes(X_new, y_new, 1.0, method=self.method)
        d_f = np.einsum("nkp,gp->gnk", s.jacobians_, d_theta)               # (G, n, k)
        f = s.outputs_[None] + d_f
        before = self.output(s.outputs_)
        after = self.output(f.reshape(-1, f.shape[-1])).reshape(len(X_new), -1)
        seen = self.model.weights_ > 0
        return xs, ys, np.abs(after - before)[:, seen].mean(axis=1).reshape(gx.shape)

    # ---- the figure ----------------------------------------------------------------------------
    headline_short = "Δ output"
    field_label = "mean |Δ| on the training points"

    def setup(self, fig):
        gs = fig.add_gridspec(1, 2, width_ratios=(2.6, 1))
        fig.get_layout_engine().set(wspace=0.06)
        self.ax_plane = ax = fig.add_subplot(gs[0])
        self.ax_bars = fig.add_subplot(gs[1])
        P = self.plane_points()
        pad = 0.12 * (P.max(axis=0) - P.min(axis=0)) + 0.1
        ax.set_xlim(P[:, 0].min() - pad[0], P[:, 0].max() + pad[0])
        ax.set_ylim(P[:, 1].min() - pad[1], P[:, 1].max() + pad[1])
        self.field_image = ax.imshow(np.zeros((2, 2)), origin="lower", aspect="auto",
                                     extent=(*ax.get_xlim(), *ax.get_ylim()),
                                     cmap=plots.FIELD_CMAP, alpha=0.75, zorder=0,
                                     interpolation="bilinear", vmin=0.0, vmax=1.0)
        self.colorbar = fig.colorbar(self.field_image, ax=ax, pad=0.01, fraction=0.05)
        self.colorbar.set_label(self.field_label, fontsize=7)
        self.colorbar.ax.tick_params(labelsize=6)
        self.trained_line, = ax.plot([], [], **plots.style("trained"), linewidth=1.5,
                                     label=plots.LABELS["trained"])
        self.line_est, = ax.plot([], [], **plots.style("mpe"), linewidth=4, alpha=0.5,
                                 label="MPE prediction")
        self.line_true, = ax.plot([], [], **plots.style("refit"), linewidth=1.5,
                                  label=plots.LABELS["refit"])
        self.draw_points(ax)
        self.ghost, = ax.plot([], [], "o", markersize=11, markerfacecolor="none",
                              markeredgecolor=plots.STYLE["selected"]["color"], linestyle="none",
                              markeredgewidth=1.2, label="where it was (moved) / removed")
        self.marker, = ax.plot([], [], **plots.style("selected", line=False), markersize=13,
                               markeredgecolor="black", linestyle="none",
                               label="selected point")
        ax.plot([], [], **plots.style("added", line=False), markersize=10, markeredgecolor="black",
                linestyle="none", label="added point")        # the marker's look after add()
        ax.set_title("Click a point, drag it, or add one: MPE vs refit", fontsize=9)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=3,
                  borderaxespad=0)          # under the plane, never on the data
        bars = self.ax_bars
        pos = np.arange(len(self.param_names))
        self.bars_est = bars.bar(pos - 0.2, np.zeros(len(pos)), width=0.4,
                                 color=plots.STYLE["mpe"]["color"], label="MPE").patches
        self.bars_true = bars.bar(pos + 0.2, np.zeros(len(pos)), width=0.4,
                                  color=plots.STYLE["refit"]["color"], label="refit").patches
        bars.axhline(0, color="0.3", linewidth=0.8)
        bars.set_xticks(pos, self.param_names, fontsize=7)
        bars.set_ylabel("parameter change Δθ", fontsize=8)
        bars.set_title("Δθ: MPE vs refit", fontsize=9)
        bars.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2,
                    borderaxespad=0)
        # the bars move on every update; the bar chart's scale changes only when the bars
        # outgrow it or shrink below a sixth of it (then only the bar chart is redrawn)
        self._bar_limit = 0.0
        self._blank = fig.add_artist(Rectangle((0, 0), 0, 0, transform=fig.transFigure,
                                               facecolor=fig.get_facecolor(), edgecolor="none",
                                               animated=True))
        self.moving = [self.points_artist, self.ghost, self.line_est, self.line_true,
                       self.marker, *self.bars_est, *self.bars_true]
        self.draw_still()

    def draw_points(self, ax):
        raise NotImplementedError

    def draw_still(self):
        """What changes with δ, the form, the label or the field switch: the heat map and the
        trained model's line."""
        self.draw_model(self.trained_line, self.model.theta_)
        self.field_image.set_visible(self.show_field)
        if self.show_field:
            xs, ys, values = self.field()
            self.field_max = float(values.max())
            # relative to the largest value on the plane (shown in the readout): the colour bar
            # keeps its ticks, so a change of δ or label redraws only the inside of the plane
            self.field_image.set_data(values / max(self.field_max, 1e-300))
            self.field_image.set_extent((xs[0], xs[-1], ys[0], ys[-1]))

    def redraw_plane(self):
        """Redraw the inside of the plane (heat map, trained line) onto the kept still part."""
        canvas, ax = self.fig.canvas, self.ax_plane
        canvas.restore_region(self._background)
        for artist in (ax.patch, self.field_image, self.trained_line, *ax.spines.values()):
            if artist.get_visible():
                self.fig.draw_artist(artist)
        self._background = canvas.copy_from_bbox(self.fig.bbox)

    def redraw_bars(self):
        """Redraw the bar chart's still part (its new scale) onto the kept still part: blank its
        region (axes, ticks, title, legend), then draw it without the bars."""
        canvas, ax = self.fig.canvas, self.ax_bars
        canvas.restore_region(self._background)
        new = ax.get_tightbbox(canvas.get_renderer())
        # blank where the chart was drawn last time and where it goes now (its labels move
        # with the width of the tick labels)
        (x0, y0), (x1, y1) = self.fig.transFigure.inverted().transform(
            Bbox.union([self._bars_box, new]).padded(2))
        self._blank.set_bounds(x0, y0, x1 - x0, y1 - y0)
        self.fig.draw_artist(self._blank)
        self.fig.draw_artist(ax)                   # Axes.draw leaves out the animated bars
        self._bars_box = new
        self._background = canvas.copy_from_bbox(self.fig.bbox)

    def redraw_background(self):
        super().redraw_background()
        self._bars_box = self.ax_bars.get_tightbbox(self.fig.canvas.get_renderer())

    def refresh(self, r):
        a = self.action
        self.draw_model(self.line_est, r["theta_est"])
        self.draw_model(self.line_true, r["theta_refit"])
        self.move_points(r)
        P = self.plane_points()
        w = r["weight"]
        if a["kind"] == "add":
            self.marker.set_data([a["xy"][0]], [a["xy"][1]])
            self.marker.set_marker(plots.STYLE["added"]["marker"])
            self.ghost.set_data([], [])
        elif a["kind"] == "move":
            self.marker.set_data([a["xy"][0]], [a["xy"][1]])
            self.marker.set_marker(plots.STYLE["selected"]["marker"])
            self.ghost.set_data([P[a["example"], 0]], [P[a["example"], 1]])
        else:
            self.marker.set_data([P[a["example"], 0]], [P[a["example"], 1]])
            self.marker.set_marker(plots.STYLE["selected"]["marker"])
            self.ghost.set_data(*(([P[a["example"], 0]], [P[a["example"], 1]]) if w == 0
                                  else ([], [])))
        self.marker.set_markersize(6 + 5 * w if w > 0 else 0)
        heights = [*r["param_change_est"], *r["param_change_true"]]
        reach = float(np.max(np.abs(heights)))
        if reach > self._bar_limit or (1e-12 < reach < self._bar_limit / 6):
            self._bar_limit = max(1.6 * reach, 1e-9)   # no change at all keeps the scale
            self.ax_bars.set_ylim(-self._bar_limit, self._bar_limit)
            self.redraw_bars()
        for bar, h in zip([*self.bars_est, *self.bars_true], heights):
            bar.set_height(h)

    def move_points(self, r):
        """Training points as the change leaves them (the moved one hidden at its old place)."""
        P = self.plane_points().copy()
        sizes = np.full(len(P), 16.0)
        if r["kind"] == "move":
            P[self.action["example"]] = self.action["xy"]
        elif r["kind"] == "weight":
            sizes[self.action["example"]] = 16.0 * r["weight"]
        self.points_artist.set_offsets(P)
        self.points_artist.set_sizes(sizes)

    # ---- the readout ---------------------------------------------------------------------------
    def readout_html(self, r):
        a = self.action
        if a["kind"] == "weight":
            what = (f"{_span('mpe-action', 'weight')} of example "
                    f"{_span('mpe-example', str(a['example']))}")
            where = "at the example"
        elif a["kind"] == "move":
            what = (f"example {_span('mpe-example', str(a['example']))} "
                    f"{_span('mpe-action', 'moved')} to ({a['xy'][0]:.2f}, {a['xy'][1]:.2f})")
            where = "at its new place"
        else:
            lab = "" if a.get("label") is None else f", label {html.escape(self.label_name(a['label']))}"
            what = (f"{_span('mpe-action', 'added')} point at ({a['xy'][0]:.2f}, "
                    f"{a['xy'][1]:.2f}){lab}")
            where = "at the new point"
        return (f"{what}, weight {_span('mpe-weight', format(r['weight'], '.2f'))}, "
                f"δ = {_span('mpe-delta', format(r['delta'], 'g'))} &nbsp;|&nbsp; "
                f"{html.escape(self.headline_short)} {where}: MPE "
                f"{_span('mpe-est', format(r['est'], '.4f'))} vs refit "
                f"{_span('mpe-true', format(r['true'], '.4f'))}"
                f" &nbsp;<small>({FORM_NAMES[self.method]}"
                + (f"; field: largest value {self.field_name} = "
                   f"{_span('mpe-field-max', format(self.field_max, '.3g'))}"
                   if self.show_field else "") + ")</small>")

    def summary(self):
        r = getattr(self, "last", None)
        if r is None:
            return super().summary()
        a = self.action
        if a["kind"] == "weight":
            what = f"example {a['example']} at weight {r['weight']:.2f}"
        elif a["kind"] == "move":
            what = f"example {a['example']} moved to ({a['xy'][0]:.2f}, {a['xy'][1]:.2f})"
        else:
            what = f"a point added at ({a['xy'][0]:.2f}, {a['xy'][1]:.2f}), weight {r['weight']:.2f}"
        return (f"{type(self).__name__}, {what}: {self.headline_short} MPE {r['est']:.4f}, "
                f"refit {r['true']:.4f} (an interactive widget: run the cells above in Jupyter "
                "to click, drag and add points)")


class LinearRegressionExplorer(PlaneExplorer):
    """1-D linear regression on the (x, y) plane: the fitted line as it would be after the
    change (MPE, thick blue) and after refitting (orange, dashed) — they coincide, because the
    MPE is exact for a quadratic loss, for weights, moves and additions alike.

    Headline: the change of the fitted value f at the selected (or moved / added) point."""

    headline = "Δf at the example (change of its fitted value)"
    headline_short = "Δf"
    field_name = "mean |Δf|"
    field_label = "field: mean |Δf| if a point were\nadded here (share of the largest)"
    needs_classifier = False
    n_features = 1
    param_names = ("intercept", "slope")

    def plane_points(self):
        return np.column_stack([self.model.X_[:, 0], self.model.y_])

    def example_at(self, xy, label=None):
        return np.array([xy[0]]), float(xy[1])

    def output(self, f):
        return np.asarray(f)[:, 0]

    def draw_model(self, line, theta):
        x = np.array(self.ax_plane.get_xlim())
        line.set_data(x, self.model.with_theta(theta).predict(x[:, None]))

    def draw_points(self, ax):
        P = self.plane_points()
        self.points_artist = ax.scatter(P[:, 0], P[:, 1], s=16, color="0.25", zorder=2,
                                        label="training data")
        ax.set_xlabel("x")
        ax.set_ylabel("y")


class LogisticRegressionExplorer(PlaneExplorer):
    """Binary logistic regression on 2-D data: the decision boundary (p = 0.5) after the change
    by the MPE and by a refit; the field is for a new point of the class chosen under "new
    point's class".

    Headline: the change of P(y = 1) at the selected (or moved / added) point."""

    headline = "Δp at the example (change of its predicted P(y=1))"
    headline_short = "ΔP(y=1)"
    field_name = "mean |Δp|"
    needs_classifier = True
    n_features = 2
    param_names = ("θ0 (bias)", "θ1 (x1)", "θ2 (x2)")

    def __init__(self, model, example, class_names=None, **kw):
        self.class_names = class_names
        self.field_label = ("field: mean |Δp| if a point of the chosen\nclass were added "
                            "here (share of the largest)")
        super().__init__(model, example, **kw)

    def _name(self, c):
        return str(self.class_names[c]) if self.class_names is not None else f"class {c}"

    label_name = _name

    def label_control(self):
        options = [(self._name(j), j) for j in range(len(self.model.classes_))]
        control = widgets.Dropdown(options=options, value=1, description="new point's class",
                                   style={"description_width": "initial"},
                                   layout=widgets.Layout(width="260px"))
        control.add_class("mpe-label")
        return control

    def check_label(self, label):
        n = len(self.model.classes_)
        if label is None:
            return int(self.label.value)
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < n:
            raise ValueError(f"label must be a class index in 0..{n - 1} (classes "
                             f"{[self._name(j) for j in range(n)]}); got {label!r}")
        return int(label)

    def plane_points(self):
        return self.model.X_

    def example_at(self, xy, label=None):
        """label: a class index (default: the one chosen for new points)."""
        label = self.label.value if label is None else label
        return np.array([xy[0], xy[1]], dtype=float), self.model.classes_[int(label)]

    def output(self, f):
        return self.model.likelihood_.probabilities(np.atleast_2d(f))[:, 1]

    def draw_model(self, line, theta):
        x1 = np.array(self.ax_plane.get_xlim())
        line.set_data(x1, -(theta[0] + theta[1] * x1) / theta[2])

    def draw_points(self, ax):
        m = self.model
        colors = np.array(plots.CLASS_COLORS)[m.y_ % 2]
        self.points_artist = ax.scatter(m.X_[:, 0], m.X_[:, 1], s=16, c=colors, zorder=2,
                                        edgecolors="0.2", linewidths=0.3)
        for c in range(len(m.classes_)):
            ax.scatter([], [], s=16, color=plots.CLASS_COLORS[c % 2], label=self._name(c))
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")


# ==================================================================================== digits
class DigitExplorer(PerturbationExplorer):
    """A digit classifier (softmax regression or MLP): the chosen image and its class
    probabilities before, as the MPE predicts and after refitting. Refit is slow for an MLP, so
    for an MLP (slow): while the slider is dragged the readout says it belongs to the last weight
    computed, and the refit runs once the slider rests. An MLP's refit starts at the MPE's
    prediction and converges to a relative tolerance of MLP_REFIT_TOL.

    Headline: Δp_i, the change of the probability of the example's TRUE class."""

    headline = "Δp_i (change of the probability of this example's true class)"
    needs_classifier = True
    n_features = 64

    def __init__(self, model, example, slow=None, **kw):
        slow = bool(getattr(model, "layered", False)) if slow is None else slow
        super().__init__(model, example, slow=slow, **kw)

    def refit(self, weight, start):
        """The model retrained with the example's new weight; an MLP to MLP_REFIT_TOL."""
        m = self.model
        if m.layered:                       # a shallow copy: the same fit, a looser tolerance
            m = copy.copy(m)
            m.tol = max(m.tol, MLP_REFIT_TOL)
        return m.refit(self.perturbed_weights(weight), warm_start=start)

    def compute(self, weight, cold=False):
        i, s, lik = self.example, self.sensitivity, self.model.likelihood_
        d_theta = s.param_change(i, weight, self.method)
        refit = self.refit(weight, None if cold else self.model.theta_ + d_theta)
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

    def refresh(self, r):
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
    estimate_name = " group form"

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
        d_theta, d_f = s.changes(idx, weight, method)
        d_theta_singles = sum(s.param_change(int(j), weight, method) for j in idx)
        d_f_singles = self._JM @ d_theta_singles                         # J_M Σ_j Δθ_j
        return {"param_change_est": d_theta, "param_change_singles": d_theta_singles,
                "pred_change_est": d_f, "pred_change_singles": d_f_singles,
                "dp_est": self._true_prob(self._f0 + d_f) - self._p0,
                "dp_singles": self._true_prob(self._f0 + d_f_singles) - self._p0}

    def refit(self, weight, cold=False):
        """The model retrained with the group's weight set to ``weight``."""
        w = self.perturbed_weights(weight)
        start = None
        if self._last_refit is not None and not cold:
            last_w, last = self._last_refit
            if abs(weight - last_w) < np.abs(self.model.weights_[self.group] - weight).max():
                start = last.theta_
        refit = self.model.refit(w, warm_start=start)
        if not cold:
            self._last_refit = (weight, refit)
        return refit

    def compute(self, weight, cold=False):
        r = self.estimates(weight)
        refit = self.refit(weight, cold)
        r["param_change_true"] = refit.theta_ - self.model.theta_
        r["pred_change_true"] = refit.train_outputs()[self.group] - self._f0
        r["dp_true"] = self._true_prob(self._f0 + r["pred_change_true"]) - self._p0
        r.update(est=float(r["dp_est"].mean()), true=float(r["dp_true"].mean()),
                 singles=float(r["dp_singles"].mean()))
        return r

    def subject(self):
        return f"Group of {len(self.group)} examples"

    def readout_extra(self, r):
        return f"; sum of single-example MPEs {_span('mpe-singles', format(r['singles'], '.4f'))}"

    # ---- the figure --------------------------------------------------------------------
    def curves(self, method):
        """The mean Δp of the members on the slider's grid of weights, by the group form and by
        the sum of single-example estimates, for one form: two (grid,) arrays."""
        kept, self.method = self.method, method
        try:
            on_grid = [self.estimates(w) for w in self.grid]
        finally:
            self.method = kept
        return (np.array([r["dp_est"].mean() for r in on_grid]),
                np.array([r["dp_singles"].mean() for r in on_grid]),
                max(np.abs(r[k]).max() for r in on_grid for k in ("dp_est", "dp_singles")))

    def method_changed(self):
        """The form changed: only the two estimate curves move (they are redrawn each time)."""
        est, singles, _ = self.curves(self.method)
        self.curve_est.set_ydata(est)
        self.curve_singles.set_ydata(singles)

    def setup(self, fig):
        self._prepare()
        idx, m = self.group, len(self.group)
        grid = self.grid = np.arange(WEIGHT_MIN, WEIGHT_MAX + WEIGHT_STEP / 2, WEIGHT_STEP)
        est, singles, reach_est = self.curves(self.method)
        # the axis covers the other form too, so switching the form keeps the scale
        other = "influence" if self.method != "influence" else "mpe"
        reach_other = self.curves(other)[2]
        # the refit at every 0.5 (from weight 1 outwards, each started from its neighbour)
        coarse = np.full(len(grid), np.nan)
        dp_coarse = []
        for w in (0.5, 0.0, 1.5, 2.0, 2.5, 3.0):
            f = self.refit(w).train_outputs()[idx]
            dp_coarse.append(self._true_prob(f) - self._p0)
            coarse[np.argmin(np.abs(grid - w))] = dp_coarse[-1].mean()
        coarse[np.argmin(np.abs(grid - 1.0))] = 0.0
        reach = max(reach_est, reach_other, np.abs(dp_coarse).max(), 1e-6)

        ax1, ax2 = fig.subplots(1, 2, width_ratios=(1.5, 1))
        pos, width = np.arange(m), 0.8 / 3
        self.bars = []
        for j, (label, role) in enumerate((("MPE group form", "mpe"),
                                           ("sum of single-example MPEs", "singles"),
                                           ("refit", "refit"))):
            c = ax1.bar(pos - 0.4 + width * (j + 0.5), np.zeros(m), width=width,
                        color=plots.STYLE[role]["color"], label=label)
            self.bars += list(c.patches)
        ax1.axhline(0, color="0.3", linewidth=0.8)
        classes = self.model.classes_
        ax1.set_xticks(pos, [f"{i}\n({classes[c]})" for i, c in zip(idx, self._y)], fontsize=7)
        ax1.set_ylim(-1.25 * reach, 1.25 * reach)
        ax1.set_xlabel("member of the group: training index (true class)")
        ax1.set_ylabel("Δ P(true class)")
        ax1.set_title("Each member's change: group form vs refit vs sum of singles", fontsize=10)
        ax1.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.1), ncols=3,
                   borderaxespad=0)

        plots.change_curves(ax2, grid, {
            "MPE group form": (est, plots.style("mpe")),
            "sum of single-example MPEs": (singles, plots.style("singles")),
            "refit (every 0.5)": (coarse, {"color": plots.STYLE["refit"]["color"], "marker": "s",
                                           "linestyle": "none"}),
        }, ylabel="mean ΔP(true class)",
            title="Mean over the members vs the group's weight")
        ax2.title.set_fontsize(10)
        ax2.set_xlabel("common weight of the group (0 = removed)")
        plots.legend_outside(ax2)
        self.vline = ax2.axvline(1.0, color=plots.STYLE["selected"]["color"], linewidth=1.2)
        self.point, = ax2.plot([1.0], [0.0], "o", color=plots.STYLE["refit"]["color"],
                               markersize=7, markeredgecolor=plots.STYLE["selected"]["color"])
        self.curve_est, self.curve_singles = ax2.get_lines()[:2]
        lo = min(np.nanmin(coarse), est.min(), singles.min())
        hi = max(np.nanmax(coarse), est.max(), singles.max())
        pad = 0.15 * (hi - lo) + 1e-9
        ax2.set_ylim(lo - pad - 0.3 * reach_other * (reach_other > reach_est),
                     hi + pad + 0.3 * reach_other * (reach_other > reach_est))
        self._last_refit = None
        self.moving = [*self.bars, self.curve_est, self.curve_singles, self.vline, self.point]

    def refresh(self, r):
        for bar, h in zip(self.bars, [*r["dp_est"], *r["dp_singles"], *r["dp_true"]]):
            bar.set_height(h)
        self.vline.set_xdata([r["weight"], r["weight"]])
        self.point.set_data([r["weight"]], [r["true"]])


# ==================================================================================== structures
class StructureExplorer(Explorer):
    """Which curvature structure? For examples whose removal was computed by refits, the
    sensitivity each structure's MPE estimates (full GGN, diagonal, KFAC, last layer; a toggle)
    against the true one, with their correlation. A finite / first-order toggle shows what the
    finite form does with a crude precision (its pole, see notebook 3).

    est / true: the mean sensitivity over these examples, by the MPE with the chosen structure
    and by the refits; also "r" (Pearson) and "spearman"."""

    @_one_thread
    def __init__(self, model, rows, true_sensitivities, structures=None, method="auto",
                 figsize=(8.0, 3.6), dpi=80):
        self.model = check_fitted_model(model)
        self.rows = check_indices(rows, model.X_.shape[0], name="rows")
        self.truth = np.asarray(true_sensitivities, dtype=float)
        if self.truth.shape != self.rows.shape:
            raise ValueError(f"true_sensitivities must hold one value per row ({len(self.rows)}); "
                             f"got shape {self.truth.shape}")
        if structures is None:
            structures = ("full", "diag", "kfac", "last_layer") if model.layered else ("full", "diag")
        self.structures = tuple(structures)
        self.structure = self.structures[0]
        self.method = check_choice("method", method, METHODS)
        self._kept = {}
        self.structure_toggle = widgets.ToggleButtons(
            options=[(plots.LABELS.get(k, k), k) for k in self.structures], value=self.structure,
            description="precision", style={"button_width": "90px"})
        self.structure_toggle.add_class("mpe-structure")
        self.method_toggle = self._method_toggle(self.method if self.method != "auto" else "auto")
        self._syncing = False
        self._build_view([self.structure_toggle, self.method_toggle], figsize, dpi)
        self.structure_toggle.observe(lambda c: None if self._syncing else self.set(structure=c["new"]),
                                      names="value")
        self.method_toggle.observe(lambda c: None if self._syncing else self.set(method=c["new"]),
                                   names="value")
        self.set()

    _set_quietly = PerturbationExplorer._set_quietly

    def sensitivity(self, structure):
        if structure not in self._kept:
            self._kept[structure] = Sensitivity(self.model, structure)
        return self._kept[structure]

    def compute(self, structure, method, fresh=False):
        import warnings

        from scipy.stats import spearmanr

        from .mpe import PerturbationWarning

        sens = Sensitivity(self.model, structure) if fresh else self.sensitivity(structure)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PerturbationWarning)
            est = sens.sensitivities(method=method)[self.rows]
        ok = np.isfinite(est) & np.isfinite(self.truth)
        r = float(np.corrcoef(est[ok], self.truth[ok])[0, 1])
        rho = float(spearmanr(est[ok], self.truth[ok]).statistic)
        return {"est": float(np.mean(est[ok])), "true": float(np.mean(self.truth[ok])), "r": r,
                "spearman": rho, "structure": structure, "method": sens.resolve_method(method),
                "estimates": est}

    @_one_thread
    def set(self, structure=None, method=None):
        """The structure toggle ("full", "diag", "kfac", "last_layer") and the method toggle;
        returns the numbers shown."""
        if structure is not None:
            self.structure = check_choice("structure", structure, self.structures)
            self._set_quietly(self.structure_toggle, self.structure)
        if method is not None:
            self.method = check_choice("method", method, METHODS)
            if self.method in [v for _, v in self.method_toggle.options]:
                self._set_quietly(self.method_toggle, self.method)
        return self.show(self.compute(self.structure, self.method))

    @_one_thread
    def recompute(self):
        return self.compute(self.structure, self.method, fresh=True)

    def setup(self, fig):
        ax = self.ax = fig.add_subplot()
        t = self.truth[np.isfinite(self.truth) & (self.truth > 0)]
        self._span = (float(t.min()) / 3, float(t.max()) * 3)
        ax.plot(self._span, self._span, color="0.5", linewidth=1, label="y = x (exact)")
        self.points = ax.scatter(self.truth, self.truth, s=22, label="MPE estimate")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(self._span)
        ax.set_xlabel("true sensitivity (retrained without the example; log scale)")
        ax.set_ylabel("estimated sensitivity (MPE; log scale)")
        ax.set_title("Each point is one training example: on the diagonal = exact", fontsize=10)
        self._legend()
        self.moving = [ax]

    def _legend(self):
        self.ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2,
                       borderaxespad=0)

    def refresh(self, r):
        s = plots.STYLE[r["structure"]]
        # |estimate| on the log axis (the finite form past its pole can turn negative)
        self.points.set_offsets(np.column_stack([self.truth, np.abs(r["estimates"])]))
        self.points.set_color(s["color"])
        self.points.set_label(f"MPE, {plots.LABELS.get(r['structure'])} "
                              f"({FORM_NAMES[r['method']]})")
        e = np.abs(r["estimates"][np.isfinite(r["estimates"])])
        e = e[e > 0]
        low = min(self._span[0], float(e.min()) / 1.5) if e.size else self._span[0]
        high = max(self._span[1], float(e.max()) * 1.5) if e.size else self._span[1]
        self.ax.set_ylim(low, high)
        self._legend()

    def readout_html(self, r):
        name = plots.LABELS.get(r["structure"], r["structure"])
        return (f"precision {_span('mpe-structure-name', name)} ({FORM_NAMES[r['method']]}): "
                f"correlation with refits r = {_span('mpe-r', format(r['r'], '.4f'))} "
                f"(Spearman {r['spearman']:.3f}) &nbsp;|&nbsp; mean sensitivity of these "
                f"{len(self.rows)} examples: MPE {_span('mpe-est', format(r['est'], '.4f'))} vs "
                f"refit {_span('mpe-true', format(r['true'], '.4f'))}")


# ==================================================================================== series
class SeriesExplorer(Explorer):
    """A slider over precomputed points of a curve (checkpoints, δ values): the curve with a
    marker where the slider is, and the numbers there. Subclasses define ``compute(j)``."""

    @_one_thread
    def __init__(self, labels, description, css, figsize, dpi, start):
        self.slider = widgets.SelectionSlider(options=[(lab, j) for j, lab in enumerate(labels)],
                                              value=start, description=description,
                                              continuous_update=True)
        self.slider.add_class(css)
        self._syncing = False
        self._build_view([self.slider], figsize, dpi)
        self.slider.observe(lambda c: None if self._syncing else self._show_at(c["new"]),
                            names="value")
        self._show_at(start)

    _set_quietly = PerturbationExplorer._set_quietly

    @_one_thread
    def _show_at(self, j):
        self._set_quietly(self.slider, j)
        return self.show(self.compute(j))

    def recompute(self):
        return self.compute(self.slider.value)


class TrainingExplorer(SeriesExplorer):
    """Step through training: a checkpoint slider over a ``training.train`` history; left, the
    MPE's LOO estimate of the test NLL beside the test NLL over the epochs (log axis), a marker at
    the checkpoint; right, the examples' sensitivities at that checkpoint, sorted.

    est / true: the LOO estimate and the test NLL at the checkpoint (the records' numbers)."""

    def __init__(self, history, title="", figsize=(10.0, 3.6), dpi=80, start=None):
        self.history = list(history)
        if not self.history or "loo_nll" not in self.history[0] or "test_nll" not in self.history[0]:
            raise ValueError("history must be the records of training.train with X_test given "
                             "(each with 'epoch', 'loo_nll' and 'test_nll')")
        self.epochs = np.array([r["epoch"] for r in self.history], dtype=float)
        self.title = title
        start = len(self.history) - 1 if start is None else start
        super().__init__([f"{int(e)}" for e in self.epochs], "epoch", "mpe-checkpoint-slider",
                         figsize, dpi, start)

    def set(self, checkpoint=None):
        """The checkpoint slider: the index into the history (0 = first checkpoint)."""
        if checkpoint is not None:
            if isinstance(checkpoint, bool) or not isinstance(checkpoint, (int, np.integer)) \
                    or not 0 <= checkpoint < len(self.history):
                raise ValueError(f"checkpoint must be an index in 0..{len(self.history) - 1}; "
                                 f"got {checkpoint!r}")
            return self._show_at(int(checkpoint))
        return self._show_at(self.slider.value)

    def compute(self, j):
        r = self.history[j]
        return {"est": float(r["loo_nll"]), "true": float(r["test_nll"]), "checkpoint": j,
                "epoch": int(r["epoch"]), "sensitivities": np.sort(r["sensitivities"])[::-1]}

    def setup(self, fig):
        ax1, ax2 = self.ax1, self.ax2 = fig.subplots(1, 2)
        x = np.maximum(self.epochs, 0.5)                  # epoch 0 drawn at 0.5 on the log axis
        loo = np.array([r["loo_nll"] for r in self.history])
        test = np.array([r["test_nll"] for r in self.history])
        ax1.plot(x, test, **plots.style("test"), marker="x", label="test NLL")
        # the form the records used: the finite form with the model's own precision, the first
        # order where an optimiser's approximate precision forced it (training.train's records)
        first = all(r.get("method") == "influence" for r in self.history)
        role = "first_order" if first else "mpe"
        ax1.plot(x, loo, **plots.style(role), marker="o",
                 label=f"MPE LOO estimate ({'first order' if first else 'finite form'})")
        ax1.set_xscale("log")
        ax1.set_xticks(x, [f"{int(e)}" for e in self.epochs])
        ax1.minorticks_off()
        ax1.set_xlabel("epoch (log scale; 0 drawn at 0.5)")
        ax1.set_ylabel("negative log-likelihood")
        ax1.set_title(f"{self.title}: LOO estimate vs test NLL".strip(": "), fontsize=10)
        plots.legend_outside(ax1)
        self.vline = ax1.axvline(x[-1], color=plots.STYLE["selected"]["color"], linewidth=1.2)
        top = max(float(np.max(r["sensitivities"])) for r in self.history)
        positive = [float(np.min(r["sensitivities"][r["sensitivities"] > 0]))
                    for r in self.history if np.any(r["sensitivities"] > 0)]
        n = len(self.history[0]["sensitivities"])
        self.curve, = ax2.plot(np.arange(1, n + 1), np.ones(n), **plots.style(role))
        ax2.set_yscale("log")
        ax2.set_ylim(min(positive, default=top * 1e-6) * 0.8, top * 1.25)
        ax2.set_xlabel("training examples, most sensitive first")
        ax2.set_ylabel("sensitivity (log scale)")
        ax2.set_title("Sensitivities at this checkpoint", fontsize=10)
        self.moving = [self.vline, self.curve]

    def refresh(self, r):
        x = max(r["epoch"], 0.5)
        self.vline.set_xdata([x, x])
        self.curve.set_ydata(np.maximum(r["sensitivities"], 1e-300))

    def readout_html(self, r):
        return (f"epoch {_span('mpe-epoch', str(r['epoch']))}: MPE LOO estimate "
                f"{_span('mpe-est', format(r['est'], '.4f'))} vs test NLL "
                f"{_span('mpe-true', format(r['true'], '.4f'))}")


class DeltaExplorer(SeriesExplorer):
    """Move δ along the LOO curve of ``experiments.delta_sweep``: the MPE's LOO estimate (ours
    and the paper's code's formula) and the test NLL with its standard error, a marker at the
    slider's δ.

    est / true: our LOO estimate and the test NLL at that δ; also "official" and "test_se"."""

    def __init__(self, sweep, figsize=(8.0, 3.6), dpi=80, start=None):
        self.sweep = sweep
        self.deltas = np.asarray(sweep["delta"], dtype=float)
        start = int(np.argmin(sweep["loo_nll"])) if start is None else start
        super().__init__([f"{d:.3g}" for d in self.deltas], "δ (prior)", "mpe-delta-slider",
                         figsize, dpi, start)

    def set(self, delta=None):
        """The δ slider: one of the sweep's δ values."""
        if delta is not None:
            delta = check_float("delta", delta, low=0.0)
            j = int(np.argmin(np.abs(np.log(self.deltas) - np.log(max(delta, 1e-300)))))
            if not np.isclose(self.deltas[j], delta, rtol=1e-6):
                raise ValueError(f"delta must be one of the sweep's values "
                                 f"{[float(f'{d:.4g}') for d in self.deltas]}; got {delta}")
            return self._show_at(j)
        return self._show_at(self.slider.value)

    def compute(self, j):
        s = self.sweep
        return {"est": float(s["loo_nll"][j]), "true": float(s["test_nll"][j]),
                "official": float(s["official_nll"][j]), "test_se": float(s["test_nll_se"][j]),
                "delta": float(self.deltas[j])}

    def setup(self, fig):
        ax = self.ax = fig.add_subplot()
        s, d = self.sweep, self.deltas
        ax.errorbar(d, s["test_nll"], yerr=s["test_nll_se"], **plots.style("test"), marker="x",
                    capsize=3, label="test NLL ± 1 s.e.")
        ax.plot(d, s["loo_nll"], **plots.style("mpe"), marker="o", label="MPE LOO estimate (ours)")
        ax.plot(d, s["official_nll"], **plots.style("official"), marker="v",
                label=plots.LABELS["official"])
        ax.set_xscale("log")
        ax.set_xlabel("prior precision δ (log scale)")
        ax.set_ylabel("negative log-likelihood")
        ax.set_title("Move δ: where is the LOO estimate lowest?", fontsize=10)
        plots.legend_outside(ax)
        self.vline = ax.axvline(d[0], color=plots.STYLE["selected"]["color"], linewidth=1.2)
        self.moving = [self.vline]

    def refresh(self, r):
        self.vline.set_xdata([r["delta"], r["delta"]])

    def readout_html(self, r):
        return (f"δ = {_span('mpe-delta', format(r['delta'], '.3g'))}: MPE LOO estimate "
                f"{_span('mpe-est', format(r['est'], '.4f'))} (paper's code's formula "
                f"{r['official']:.4f}) vs test NLL {_span('mpe-true', format(r['true'], '.4f'))}"
                f" ± {r['test_se']:.4f}")


# ==================================================================================== factories
# deterministic defaults: the notebooks call these with no arguments
def linear_regression_explorer(example=None, seed=0, delta=0.0, **kw):
    """datasets.regression_1d(seed=seed) and LinearRegression(delta, noise_var=1); the default
    example is the planted outlier (wrong about it, not uncertain)."""
    data = datasets.regression_1d(seed=seed)
    model = LinearRegression(delta=delta).fit(data.X_train, data.y_train)
    example = data.special_index if example is None else example
    return LinearRegressionExplorer(model, example, **kw)


def logistic_regression_explorer(example=None, seed=0, method="mpe", n=60, delta=1.0, **kw):
    """datasets.two_moons(n=60, seed=seed) and LogisticRegression(delta=1); the default example
    is the most sensitive one (the largest change of its own prediction when removed)."""
    data = datasets.two_moons(n=n, seed=seed)
    model = LogisticRegression(delta=delta).fit(data.X_train, data.y_train)
    if example is None:
        example = int(np.argmax(Sensitivity(model).sensitivities()))
    return LogisticRegressionExplorer(model, example, method=method,
                                      class_names=data.target_names, **kw)


def group_explorer(group=None, size=10, seed=0, n_train=200, delta=1.0, **kw):
    """datasets.digits(n_train=200, seed=0) and SoftmaxRegression(delta=1), as in notebook 7; the
    default group is the ``size`` most sensitive examples."""
    data = datasets.digits(n_train=n_train, seed=seed)
    model = SoftmaxRegression(delta=delta).fit(data.X_train, data.y_train)
    if group is None:
        group = np.argsort(Sensitivity(model).sensitivities())[::-1][:size]
    return GroupExplorer(model, group, **kw)
