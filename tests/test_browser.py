"""The explorers, driven the way a learner drives them: JupyterLab in headless Chromium.

For every notebook with an explorer the test opens the notebook in a real JupyterLab server,
first WITHOUT running it (each explorer must show its saved state or one line saying to run the
cells, never a raw widget repr), then runs all cells and, for each explorer on the page, uses
every control a learner reaches for: it clicks a point, drags it, adds one, moves the weight and
δ sliders, flips the finite / first-order toggle, the field switch, the curvature structure, the
checkpoint slider. After each action it asks the kernel behind the page to recompute that state
from scratch (``Explorer.find(key).recompute()``: a fresh Sensitivity, a refit from the default
start) and checks the readout shows those numbers to its 4 decimals. It times each action from
the browser event to the updated readout and writes the table to build/screenshots/latency.md,
with a screenshot after each action in build/screenshots/.

Needs Debian's Chromium at /usr/bin/chromium. Without it the test is skipped, except under
CI=true, where it fails.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
# the notebooks under test (another folder only to try the test on a scratch notebook)
NOTEBOOKS = Path(os.environ.get("MPE_BROWSER_NOTEBOOKS", ROOT / "notebooks"))
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]

def _explorer_notebooks():
    """The notebooks whose committed outputs show an explorer."""
    found = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if "mpe_teach.widgets" in path.read_text() or "widgets." in path.read_text():
            nb = json.loads(path.read_text())
            views = [o for c in nb["cells"] for o in c.get("outputs", [])
                     if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
            if any("Explorer" in "".join(o["data"].get("text/plain", "")) for o in views):
                found.append(path.name)
    return found


EXPLORER_NOTEBOOKS = _explorer_notebooks()
SERVER_START_TIMEOUT = 60  # s
KERNEL_TIMEOUT = 60  # s, until a started kernel is connected and idle
RUN_ALL_TIMEOUT = 240  # s, until every cell of a notebook has run
WIDGET_TIMEOUT = 90  # s, for one action to reach the kernel and come back (an MLP refit)
LATENCY = []  # (notebook, explorer, control, ms) of every timed action, for latency.md


# ----------------------------------------------------------------------------- prerequisites
def _in_ci():
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _require_browser():
    """Skip (locally) or fail (CI=true) when Chromium or Playwright is missing."""
    problem = None
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        problem = (f"{CHROMIUM} not found: install Debian's Chromium with "
                   "`apt-get install -y --no-install-recommends chromium` (.ci/run does this)")
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as err:
            problem = f"playwright (Python) is not importable ({err}); install the [dev] extra"
    if problem:
        if _in_ci():
            pytest.fail(f"browser test cannot run under CI=true: {problem}")
        pytest.skip(problem)


# ----------------------------------------------------------------------------- server
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method, url, timeout=10):
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


def _children(pid):
    """Process ids whose parent is pid (read from /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:  # a zombie is dead for our purposes
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class LabServer:
    """A JupyterLab server on 127.0.0.1 serving a temporary copy of notebooks/."""

    def __init__(self, workdir):
        self.root = workdir / "root"
        shutil.copytree(NOTEBOOKS, self.root,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        self.private = workdir / "jupyter"
        settings = self.private / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        # no "would you like to receive news?" toast over the notebook
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        self.log_path = workdir / "jupyterlab.log"
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        env = dict(os.environ,
                   JUPYTER_CONFIG_DIR=str(self.private / "config"),
                   JUPYTER_RUNTIME_DIR=str(self.private / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(self.private / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.private / "workspaces"))
        for attempt in range(3):  # the free port can be taken in between; try another
            self.port = _free_port()
            command = [
                sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                "--ServerApp.token=", "--ServerApp.password=",
                "--ServerApp.disable_check_xsrf=True", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={self.root}",
                f"--LabApp.workspaces_dir={self.private / 'workspaces'}",
                "--LabApp.expose_app_in_browser=True",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(command, cwd=self.root, env=env, stdout=log,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True)
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                with contextlib.suppress(OSError):
                    _http("GET", f"{self.url}/api/status", timeout=2)
                    return self
                time.sleep(0.3)
            self.stop()
        raise RuntimeError(f"JupyterLab did not start; log:\n{self.log_path.read_text()[-3000:]}")

    def delete_sessions(self):
        """Shut down every kernel this server started, through its REST API."""
        with contextlib.suppress(OSError, ValueError):
            for session in _http("GET", f"{self.url}/api/sessions"):
                with contextlib.suppress(OSError):
                    _http("DELETE", f"{self.url}/api/sessions/{session['id']}")
        with contextlib.suppress(OSError, ValueError):
            for kernel in _http("GET", f"{self.url}/api/kernels"):
                with contextlib.suppress(OSError):
                    _http("DELETE", f"{self.url}/api/kernels/{kernel['id']}")

    def stop(self):
        """Kernels via the API, then the server by its own process group; no stragglers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            kernels = _children(self.proc.pid)  # the kernels run as the server's children
            self.delete_sessions()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            for pid in kernels:
                if _alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        self.proc = None


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    server = LabServer(tmp_path_factory.mktemp("lab"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()
        lab.delete_sessions()


# ----------------------------------------------------------------------------- page helpers
KERNEL_READY_JS = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
                 && panel.sessionContext.session.kernel;
  const bar = Array.from(document.querySelectorAll('.jp-StatusBar-TextItem'))
                   .map(e => e.textContent.trim());
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle'
         && bar.some(t => /\\|\\s*Idle$/.test(t) && !/No Kernel/.test(t));
}"""

# every code cell has run (or one failed, which stops Run All) and the kernel is idle
RUN_ALL_DONE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  const done = cells.every(c => c.model.executionCount !== null);
  return failed || (done && kernel.status === 'idle');
}"""

ERRORS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const found = [];
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    cell.model.outputs.toJSON().forEach(o => {
      if (o.output_type === 'error') found.push(`cell ${index}: ${o.ename}: ${o.evalue}`);
      if (o.output_type === 'stream' && o.name === 'stderr' && /Traceback/.test(o.text))
        found.push(`cell ${index}: traceback on stderr: ${o.text.slice(0, 300)}`);
    });
  });
  const bad = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]';
  document.querySelectorAll(bad).forEach(e => {
    if (/Traceback/.test(e.textContent)) found.push('shown: ' + e.textContent.slice(0, 300));
  });
  document.querySelectorAll('.jp-OutputArea-output').forEach(e => {
    if (/Error displaying widget|Failed to load model class/.test(e.textContent))
      found.push('widget: ' + e.textContent.slice(0, 300));
  });
  return found;
}"""



def _open_and_run_all(page, lab, name):
    """Open a notebook (no restored tabs), wait for a connected idle kernel, run all cells."""
    page.goto(f"{lab.url}/lab/tree/{name}?reset")
    page.wait_for_function(KERNEL_READY_JS, timeout=KERNEL_TIMEOUT * 1000, polling=250)
    # committed outputs hold stale widget views: clear them so only live widgets remain
    page.evaluate("window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.wait_for_function("""() => window.jupyterapp.shell.currentWidget.content.widgets
        .every(c => c.model.type !== 'code' || c.model.executionCount === null)""")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(RUN_ALL_DONE_JS, timeout=RUN_ALL_TIMEOUT * 1000, polling=500)


def _screenshot(locator, stem):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(SCREENSHOTS / f"{stem}.png"))


# ----------------------------------------------------------------------------- the kernel
class Kernel:
    """A second client of the notebook's kernel: asks the explorers behind the page."""

    def __init__(self, lab):
        from jupyter_client import BlockingKernelClient

        sessions = _http("GET", f"{lab.url}/api/sessions")
        assert len(sessions) == 1, f"expected one open notebook, found {len(sessions)} sessions"
        kernel_id = sessions[0]["kernel"]["id"]
        path = lab.private / "runtime" / f"kernel-{kernel_id}.json"
        self.client = BlockingKernelClient(connection_file=str(path))
        self.client.load_connection_file()
        self.client.start_channels()

    def ask(self, code):
        """Run ``code`` (which prints one JSON line) in the kernel; the parsed value."""
        out, errors = [], []

        def hook(msg):
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

        self.client.execute_interactive(code, output_hook=hook, timeout=WIDGET_TIMEOUT,
                                        store_history=False, allow_stdin=False)
        assert not errors, f"the kernel raised: {errors}"
        return json.loads("".join(out))

    def explorer(self, key, expr):
        """``expr`` evaluated with ``e`` = the explorer of this key, as JSON."""
        return self.ask(
            "import json as _j, numpy as _np\n"
            "from mpe_teach.widgets import Explorer as _E\n"
            f"e = _E.find({key!r})\n"
            "def _plain(v):\n"
            "    if isinstance(v, dict):\n"
            "        return {k: _plain(x) for k, x in v.items() if not isinstance(x, _np.ndarray)}\n"
            "    if isinstance(v, (tuple, list)):\n"
            "        return [_plain(x) for x in v]\n"
            "    return v.item() if isinstance(v, _np.generic) else v\n"
            f"print(_j.dumps(_plain({expr})))\n"
            "del e")

    def close(self):
        self.client.stop_channels()


# ----------------------------------------------------------------------------- reading the page
SPAN = re.compile(r'<span class="(mpe-[a-z-]+)">([^<]*)</span>')


def _readout(box):
    return box.locator(".mpe-readout").inner_html()


def _spans(html):
    return dict(SPAN.findall(html))


def _settled(page, box, before, must=None, timeout=WIDGET_TIMEOUT):
    """Wait until the readout differs from ``before`` (and contains ``must``), is not a pending
    state, and stays the same for 300 ms; returns its HTML."""
    sel = box_selector(box)
    page.wait_for_function(
        """([sel, before, must]) => {
             const r = document.querySelector(sel + ' .mpe-readout');
             if (!r) return false;
             const h = r.innerHTML;
             return h !== before && (!must || h.includes(must))
                    && !/computing…|stale/.test(r.textContent)
                    && r.querySelector('.mpe-est') !== null;
           }""", arg=[sel, before, must], timeout=timeout * 1000, polling="raf")
    html = _readout(box)
    page.wait_for_timeout(300)
    again = _readout(box)
    return again if again != html else html


def box_selector(box):
    return box._mpe_selector


def _timed(page, box, label, action, must=None, notebook="", kind=""):
    """Do ``action`` (browser events), wait for the settled readout; record the latency."""
    before = _readout(box)
    start = time.perf_counter()
    action()
    sel = box_selector(box)
    page.wait_for_function(
        """([sel, before, must]) => {
             const r = document.querySelector(sel + ' .mpe-readout');
             return !!r && r.innerHTML !== before && (!must || r.innerHTML.includes(must))
                    && !/computing…|stale/.test(r.textContent);
           }""", arg=[sel, before, must], timeout=WIDGET_TIMEOUT * 1000, polling="raf")
    ms = 1000 * (time.perf_counter() - start)
    LATENCY.append((notebook, kind, label, ms))
    return _settled(page, box, "", must)


def _check(kernel, key, html, label, extra=("mpe-est", "mpe-true"), page=None):
    """The readout's numbers are the kernel's recomputation of this state, to 4 decimals.

    The kernel answers after it has handled every browser event sent before the question, so
    its state is the final one; the readout may still be on its way: wait (up to 10 s) for it
    to show the recomputed numbers before failing."""
    fresh = kernel.explorer(key, "e.recompute()")
    names = {"mpe-est": "est", "mpe-true": "true", "mpe-r": "r"}
    expected = {cls: fresh[names[cls]] for cls in extra}
    page = page or PAGE[0]
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        page.wait_for_function(
            """([sel, expected]) => {
                 const r = document.querySelector(sel + ' .mpe-readout');
                 if (!r) return false;
                 return Object.entries(expected).every(([cls, v]) => {
                   const s = r.querySelector('.' + cls);
                   return !!s && Math.abs(parseFloat(s.textContent) - v) <= 0.5e-4 + 1e-9; });
               }""", arg=[f".mpe-key-{key}", expected], timeout=10_000, polling=100)
    except PlaywrightTimeout:
        pass
    html = page.locator(f".mpe-key-{key} .mpe-readout").inner_html()
    shown = _spans(html)
    for cls, value in expected.items():
        assert cls in shown, f"{label}: the readout lacks {cls}: {html!r}"
        assert abs(float(shown[cls]) - value) <= 0.5e-4 + 1e-9, \
            f"{label}: {cls} shown {shown[cls]}, the library recomputes {value:.6f}"
    return shown, fresh


PAGE = [None]   # the page being driven (set by drive_notebook)


def _click_pixel(page, box, pixel):
    """Page coordinates of an image pixel of the explorer's figure (natural pixels)."""
    img = box.locator("img.mpe-plot")
    rect = img.bounding_box()
    natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    scale = rect["width"] / natural[0]
    return rect["x"] + pixel[0] * scale, rect["y"] + pixel[1] * scale


def _press(page, handle, key, times=1):
    handle.focus()
    for _ in range(times):
        page.keyboard.press(key)


# ----------------------------------------------------------------------------- per explorer kind
def drive_plane(page, kernel, box, key, name, stem):
    nb, kind = name, "plane"
    html = _readout(box)
    _check(kernel, key, html, f"{name}: as the notebook left it")
    _screenshot(box, f"{stem}_{key}_0_start")
    # the weight slider (keyboard): three steps, away from the end it may sit at
    handle = box.locator(".mpe-weight-slider .noUi-handle")
    start = float(box.locator(".mpe-weight-slider .widget-readout").inner_text())
    step = "ArrowLeft" if start >= 0.15 else "ArrowRight"
    for _ in range(3):
        html = _timed(page, box, "weight slider (one key press)",
                      lambda: _press(page, handle, step), notebook=nb, kind=kind)
    _check(kernel, key, html, f"{name}: weight slider")
    # click a point: the most sensitive one other than the selected
    info = kernel.explorer(key, "(lambda P, j: {'j': j, 'px': e.pixel_of(P[j])})"
                           "(e.plane_points(), int(_np.argsort(e.sensitivity.sensitivities())[-2]"
                           " if int(_np.argmax(e.sensitivity.sensitivities())) == e.example"
                           " else _np.argmax(e.sensitivity.sensitivities())))")
    j = info["j"]
    x, y = _click_pixel(page, box, info["px"])
    html = _timed(page, box, "click a point (select)", lambda: page.mouse.click(x, y),
                  must=f'class="mpe-example">{j}<', notebook=nb, kind=kind)
    _check(kernel, key, html, f"{name}: select {j}")
    # the slider now drives the selected point: to 0 (removed)
    html = _timed(page, box, "weight slider (selected point)",
                  lambda: _press(page, handle, "Home"), notebook=nb, kind=kind)
    shown, _ = _check(kernel, key, html, f"{name}: point {j} removed")
    assert shown["mpe-weight"] == "0.00" and shown["mpe-example"] == str(j)
    _screenshot(box, f"{stem}_{key}_1_selected_removed")

    # drag it 45 px right and 30 px up; the readout follows while the button is held, and the
    # latency is timed from the last move (then the release)
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 8):
        page.mouse.move(x + 45 * step / 8, y - 30 * step / 8)
        page.wait_for_timeout(60)
    page.wait_for_function(
        "sel => /moved/.test(document.querySelector(sel + ' .mpe-readout').textContent)",
        arg=box_selector(box), timeout=WIDGET_TIMEOUT * 1000)
    _settled(page, box, "", ">moved<")

    def last_move():
        page.mouse.move(x + 45, y - 30)
        page.mouse.up()

    html = _timed(page, box, "drag a point (last move)", last_move, must=">moved<", notebook=nb,
                  kind=kind)
    shown, fresh = _check(kernel, key, html, f"{name}: drag {j}")
    target = kernel.explorer(key, "e.data_xy(*e.pixel_of(e.plane_points()[e.example]))")
    moved_to = kernel.explorer(key, "e.action['xy']")
    assert moved_to != target, f"{name}: the drag did not move point {j}"
    _screenshot(box, f"{stem}_{key}_2_dragged")
    # add a point: the pointer mode, a class where there is one, a click in empty space
    box.locator(".mpe-mode button", has_text="add a point").click()
    if box.locator(".mpe-label select").count():
        box.locator(".mpe-label select").select_option(index=0)
        page.wait_for_timeout(200)
    free = kernel.explorer(key, "e.pixel_of(((e.ax_plane.get_xlim()[0] * 3 + e.ax_plane.get_xlim()[1]) / 4,"
                                " (e.ax_plane.get_ylim()[0] + e.ax_plane.get_ylim()[1] * 3) / 4))")
    ax_, ay_ = _click_pixel(page, box, free)
    html = _timed(page, box, "click to add a point", lambda: page.mouse.click(ax_, ay_),
                  must=">added<", notebook=nb, kind=kind)
    _check(kernel, key, html, f"{name}: add")
    _screenshot(box, f"{stem}_{key}_3_added")
    box.locator(".mpe-mode button", has_text="select / drag").click()
    # δ slider (keyboard): one step down
    d_handle = box.locator(".mpe-delta-slider .noUi-handle")
    html = _timed(page, box, "δ slider", lambda: _press(page, d_handle, "ArrowRight"),
                  notebook=nb, kind=kind)
    _check(kernel, key, html, f"{name}: δ")
    # the form toggle
    html = _timed(page, box, "finite / first-order toggle",
                  lambda: box.locator(".mpe-method button", has_text="first order").click(),
                  must="first-order form", notebook=nb, kind=kind)
    _check(kernel, key, html, f"{name}: first order")
    _screenshot(box, f"{stem}_{key}_4_delta_first_order")
    html = _timed(page, box, "finite / first-order toggle",
                  lambda: box.locator(".mpe-method button", has_text="finite form").click(),
                  must="finite MPE form", notebook=nb, kind=kind)
    _check(kernel, key, html, f"{name}: finite form")
    # the field switch (off and on)
    checkbox = box.locator(".mpe-field input[type=checkbox]")
    html = _timed(page, box, "sensitivity field switch", lambda: checkbox.click(),
                  notebook=nb, kind=kind)
    assert "mpe-field-max" not in html
    html = _timed(page, box, "sensitivity field switch", lambda: checkbox.click(),
                  must="mpe-field-max", notebook=nb, kind=kind)
    _check(kernel, key, html, f"{name}: field")


def drive_weight_slider(page, kernel, box, key, name, stem, slow=False):
    """A weight slider (DigitExplorer, GroupExplorer): keyboard, then a drag along the track;
    a slow explorer must say its readout is stale while the handle is held."""
    kind = "slider"
    _check(kernel, key, _readout(box), f"{name}: as the notebook left it")
    _screenshot(box, f"{stem}_{key}_0_start")
    handle = box.locator(".mpe-weight-slider .noUi-handle")
    start = float(box.locator(".mpe-weight-slider .widget-readout").inner_text())
    key_name = "ArrowRight" if start < 1.5 else "ArrowLeft"
    html = _timed(page, box, "weight slider (keyboard)", lambda: _press(page, handle, key_name, 1),
                  notebook=name, kind=kind)
    _check(kernel, key, html, f"{name}: keyboard")
    track = box.locator(".mpe-weight-slider .noUi-target").bounding_box()
    hb = handle.bounding_box()
    fraction = 0.8 if start < 1.5 else 0.2

    def press_and_drag():
        page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + fraction * track["width"], hb["y"] + hb["height"] / 2,
                        steps=10)

    if slow:   # while held the readout says it is stale; timed from the release
        press_and_drag()
        page.wait_for_function(
            "sel => /stale/.test(document.querySelector(sel + ' .mpe-readout').textContent)",
            arg=box_selector(box), timeout=WIDGET_TIMEOUT * 1000)
        _screenshot(box, f"{stem}_{key}_stale_while_dragging")
        html = _timed(page, box, "weight slider (drag, from the release)",
                      lambda: page.mouse.up(), notebook=name, kind=kind)
    else:
        html = _timed(page, box, "weight slider (drag, whole gesture)",
                      lambda: (press_and_drag(), page.mouse.up()), notebook=name, kind=kind)
    shown, _ = _check(kernel, key, html, f"{name}: drag")
    assert abs(float(shown["mpe-weight"]) - 3.0 * fraction) <= 0.4
    if box.locator(".mpe-method button").count():
        html = _timed(page, box, "finite / first-order toggle",
                      lambda: box.locator(".mpe-method button", has_text="first order").click(),
                      must="first-order form", notebook=name, kind=kind)
        _check(kernel, key, html, f"{name}: first order")
    _screenshot(box, f"{stem}_{key}_1_after")


def drive_structure(page, kernel, box, key, name, stem):
    _check(kernel, key, _readout(box), f"{name}: as the notebook left it", ("mpe-est", "mpe-true", "mpe-r"))
    buttons = box.locator(".mpe-structure button")
    labels = [buttons.nth(i).inner_text().strip() for i in range(buttons.count())]
    order = labels[1:] + labels[:1]           # every structure, ending where it started
    for label in order:
        html = _timed(page, box, "structure choice", lambda: box.locator(
            ".mpe-structure button", has_text=label).first.click(),
            must=f'class="mpe-structure-name">{label}<', notebook=name, kind="structure")
        _check(kernel, key, html, f"{name}: structure {label}", ("mpe-est", "mpe-true", "mpe-r"))
        _screenshot(box, f"{stem}_{key}_{label.replace(' ', '_')}")


def drive_series(page, kernel, box, key, name, stem, css, label):
    _check(kernel, key, _readout(box), f"{name}: as the notebook left it")
    handle = box.locator(f".{css} .noUi-handle")
    j, n = kernel.explorer(key, "[e.slider.value, len(e.slider.options)]")
    assert n >= 2, f"{name}: {label} has only {n} position(s)"
    # one step down (or up from the first position), back, then to the far end
    first = "ArrowLeft" if j > 0 else "ArrowRight"
    back = "ArrowRight" if first == "ArrowLeft" else "ArrowLeft"
    steps = [first, back] + (["End"] if j < n - 1 else ["Home"])
    for key_name in steps:
        html = _timed(page, box, label, lambda: _press(page, handle, key_name), notebook=name,
                      kind="series")
        _check(kernel, key, html, f"{name}: {label} {key_name}")
    _screenshot(box, f"{stem}_{key}_moved")


def drive_notebook(page, lab, name):
    stem = Path(name).stem
    # opened before running: saved state or one line to run the cells, never a raw repr
    page.goto(f"{lab.url}/lab/tree/{name}?reset")
    page.wait_for_function(KERNEL_READY_JS, timeout=KERNEL_TIMEOUT * 1000, polling=250)
    page.wait_for_timeout(1500)
    text = page.locator(".jp-Notebook").inner_text()
    assert "VBox(children" not in text and "FloatSlider(" not in text, \
        f"{name}, opened before running, shows a raw widget repr"
    _screenshot(page.locator(".jp-Notebook"), f"{stem}_unrun")
    _open_and_run_all(page, lab, name)
    errors = page.evaluate(ERRORS_JS)
    assert not errors, f"{name} has error outputs in the browser:\n" + "\n".join(errors)
    kernel = Kernel(lab)
    PAGE[0] = page
    try:
        boxes = page.locator(".mpe-explorer")
        boxes.first.wait_for(state="visible", timeout=WIDGET_TIMEOUT * 1000)
        classes = [boxes.nth(i).get_attribute("class") for i in range(boxes.count())]
        assert classes, f"{name}: no explorer on the page"
        for cls in classes:
            key = re.search(r"mpe-key-(\w+)", cls).group(1)
            kind = re.search(r"mpe-kind-(\w+)", cls).group(1)
            box = page.locator(f".mpe-key-{key}")
            box._mpe_selector = f".mpe-key-{key}"
            box.scroll_into_view_if_needed()
            box.locator(".mpe-readout .mpe-est").wait_for(timeout=WIDGET_TIMEOUT * 1000)
            if kind in ("LinearRegressionExplorer", "LogisticRegressionExplorer"):
                drive_plane(page, kernel, box, key, name, stem)
            elif kind == "StructureExplorer":
                drive_structure(page, kernel, box, key, name, stem)
            elif kind == "TrainingExplorer":
                drive_series(page, kernel, box, key, name, stem, "mpe-checkpoint-slider",
                             "checkpoint slider")
            elif kind == "DeltaExplorer":
                drive_series(page, kernel, box, key, name, stem, "mpe-delta-slider",
                             "δ slider (LOO curve)")
            else:
                slow = kernel.explorer(key, "bool(getattr(e, 'slow', False))")
                drive_weight_slider(page, kernel, box, key, name, stem, slow=slow)
        errors = page.evaluate(ERRORS_JS)
        assert not errors, f"{name} has error outputs after using the explorers:\n" + "\n".join(errors)
    finally:
        kernel.close()


def _write_latency():
    if not LATENCY:
        return
    import numpy as np

    rows = {}
    for nb, _, control, ms in LATENCY:
        rows.setdefault((nb, control), []).append(ms)
    lines = ["| notebook | control | n | median ms | 90th percentile ms |", "|---|---|---|---|---|"]
    for (nb, control), v in rows.items():
        lines.append(f"| {nb} | {control} | {len(v)} | {np.median(v):.0f} | "
                     f"{np.percentile(v, 90):.0f} |")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "latency.json").write_text(json.dumps(
        [{"notebook": nb, "explorer": kind, "control": control, "ms": ms}
         for nb, kind, control, ms in LATENCY], indent=1))
    (SCREENSHOTS / "latency.md").write_text(
        "Browser latency: from the browser event to the settled readout (JupyterLab + Chromium)\n\n"
        + "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("name", EXPLORER_NOTEBOOKS)
def test_explorers_in_jupyterlab(page, lab, name):
    assert (NOTEBOOKS / name).is_file(), f"notebook {name} is missing from notebooks/"
    try:
        drive_notebook(page, lab, name)
    finally:
        _write_latency()


def test_every_explorer_notebook_is_covered():
    """The browser test finds the explorers itself; make sure it finds the ones we expect."""
    expected = {"00_start_here.ipynb", "01_linear_regression.ipynb", "04_logistic_regression.ipynb",
                "05_softmax_and_mlp.ipynb", "06_sensitivity_during_training.ipynb",
                "07_using_sensitivities.ipynb"}
    missing = expected - set(EXPLORER_NOTEBOOKS)
    assert not missing, f"no explorer found in {sorted(missing)}"
