"""The sliders, driven the way a learner drives them: JupyterLab in headless Chromium.

For the linear- and logistic-regression notebooks the test opens the notebook in a real
JupyterLab server, runs all cells, moves the perturbation slider with the keyboard and by
dragging, and checks that the numbers shown next to the plot are the ones the library computes
for the weight the slider shows (to the 4 decimals shown). It also exports every notebook to
static HTML (tools/export_html.py) and checks, with the network blocked, that the index opens
and every page shows its figures.

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
NOTEBOOKS = ROOT / "notebooks"
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]
# the notebooks with a perturbation explorer, and the factory each one calls
EXPLORER_NOTEBOOKS = {
    "01_linear_regression.ipynb": "linear_regression_explorer",
    "03_logistic_regression.ipynb": "logistic_regression_explorer",
}
SERVER_START_TIMEOUT = 60  # s
KERNEL_TIMEOUT = 60  # s, until a started kernel is connected and idle
RUN_ALL_TIMEOUT = 240  # s, until every cell of a notebook has run
WIDGET_TIMEOUT = 60  # s, for one slider move to reach the kernel and come back


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
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = None
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
    finally:
        if chromium is not None:
            chromium.close()
        playwright.stop()


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

# the slider's own readout and the explorer's readout agree: the last move reached the kernel
SETTLED_JS = """() => {
  const shown = document.querySelector('.mpe-weight-slider .widget-readout');
  const used = document.querySelector('.mpe-readout .mpe-weight');
  const numbers = document.querySelectorAll('.mpe-readout .mpe-est, .mpe-readout .mpe-true');
  return !!shown && !!used && numbers.length === 2 && shown.textContent.trim() !== ''
         && shown.textContent.trim() === used.textContent.trim();
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


def _shown(page):
    """(weight, estimate, truth) as the strings the browser shows, once the move settled."""
    page.wait_for_function(SETTLED_JS, timeout=WIDGET_TIMEOUT * 1000, polling=200)
    page.wait_for_timeout(300)  # let a queued update land, then make sure it still agrees
    page.wait_for_function(SETTLED_JS, timeout=WIDGET_TIMEOUT * 1000, polling=200)
    readout = page.locator(".mpe-readout")
    return tuple(readout.locator(f".{c}").inner_text().strip()
                 for c in ("mpe-weight", "mpe-est", "mpe-true"))


def _plot_image(page):
    """The src of the image in the explorer's plot (a data: URL), or None."""
    img = page.locator(".mpe-plot img")
    return img.first.get_attribute("src") if img.count() else None


SPAN = re.compile(r'<span class="(mpe-weight|mpe-est|mpe-true)">([^<]*)</span>')


def _spans(html):
    found = dict(SPAN.findall(html))
    missing = {"mpe-weight", "mpe-est", "mpe-true"} - set(found)
    assert not missing, f"readout lacks {sorted(missing)}: {html!r}"
    return found["mpe-weight"], found["mpe-est"], found["mpe-true"]


def _check_against_library(shown, explorer, label):
    """The browser's numbers are the library's, rounded to the 4 decimals shown.

    `explorer` is built in this process by the same factory the notebook calls; its
    update(weight) returns the numbers it computes for the weight the browser shows."""
    weight_text, est_text, true_text = shown
    weight = float(weight_text)
    result = explorer.update(weight)
    assert isinstance(result, dict) and {"est", "true"} <= set(result), \
        f"update() should return a dict with 'est' and 'true'; got {result!r}"
    assert _spans(explorer.readout.value)[0] == weight_text
    # a shown number is the library's value rounded to 4 decimals: off by at most half a
    # unit in the last digit (the kernel's slider value may differ from the text by ~1e-16)
    half_unit = 0.5e-4 + 1e-9
    assert abs(float(est_text) - result["est"]) <= half_unit, \
        f"{label}: MPE estimate shown {est_text}, library gives {result['est']:.6f} " \
        f"at weight {weight_text}"
    assert abs(float(true_text) - result["true"]) <= half_unit, \
        f"{label}: refit value shown {true_text}, library gives {result['true']:.6f} " \
        f"at weight {weight_text}"
    return weight


def _wait_plot_changed(page, before, message):
    """Wait until the explorer's plot shows a rendered image other than `before`."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "before => { const i = document.querySelector('.mpe-plot img');"
            " return !!i && i.getAttribute('src') !== before && i.complete"
            " && i.naturalWidth > 0; }", arg=before, timeout=WIDGET_TIMEOUT * 1000)
    except PlaywrightTimeout:
        pytest.fail(message)


def _screenshot(page, stem):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".mpe-explorer").first.screenshot(path=str(SCREENSHOTS / f"{stem}.png"))


def drive_explorer(page, lab, name, explorer):
    """Run `name` in JupyterLab, move its slider, compare every shown number with `explorer`."""
    stem = Path(name).stem
    _open_and_run_all(page, lab, name)
    errors = page.evaluate(ERRORS_JS)
    assert not errors, f"{name} has error outputs in the browser:\n" + "\n".join(errors)

    slider = page.locator(".mpe-weight-slider")
    handle = slider.locator(".noUi-handle")
    handle.wait_for(state="visible", timeout=WIDGET_TIMEOUT * 1000)
    assert slider.count() == 1, f"{name}: expected one perturbation slider, found {slider.count()}"
    handle.scroll_into_view_if_needed()
    # the notebook may have left the slider anywhere (a cell sets it to show a removal)
    shown = _shown(page)
    _check_against_library(shown, explorer, f"{name} as the notebook left it")
    plot_before = _plot_image(page)
    assert plot_before, f"{name}: the explorer's plot shows no image"
    _screenshot(page, f"{stem}_before")

    # keyboard: four steps of 0.05 towards the far end of the slider, then two back
    start = round(float(shown[0]) * 100)  # in hundredths
    forward, back, sign = (("ArrowRight", "ArrowLeft", 1) if start <= 150
                           else ("ArrowLeft", "ArrowRight", -1))
    handle.focus()
    for _ in range(4):
        page.keyboard.press(forward)
    shown = _shown(page)
    assert shown[0] == f"{(start + sign * 20) / 100:.2f}", \
        f"{name}: 4 × {forward} from {start / 100:.2f} shows {shown[0]}"
    _check_against_library(shown, explorer, f"{name} after 4 × {forward}")
    for _ in range(2):
        page.keyboard.press(back)
    shown = _shown(page)
    assert shown[0] == f"{(start + sign * 10) / 100:.2f}", \
        f"{name}: 2 × {back} after that shows {shown[0]}"
    _check_against_library(shown, explorer, f"{name} after 2 × {back}")
    _wait_plot_changed(page, plot_before, f"{name}: the plot did not change with the keyboard")
    plot_keyboard = _plot_image(page)
    _screenshot(page, f"{stem}_after_keyboard")

    # drag the handle across the track: to 80 % of it (weight ≈ 2.4), or to 20 % (≈ 0.6)
    # when it already sits in the upper half
    fraction = 0.8 if float(shown[0]) < 1.5 else 0.2
    track = slider.locator(".noUi-target").bounding_box()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] + fraction * track["width"], box["y"] + box["height"] / 2,
                    steps=12)
    page.mouse.up()
    shown = _shown(page)
    weight = _check_against_library(shown, explorer, f"{name} after drag")
    assert abs(weight - 3.0 * fraction) <= 0.4, \
        f"{name}: dragging to {fraction:.0%} of the track gave weight {weight}"
    _wait_plot_changed(page, plot_keyboard, f"{name}: the plot did not change with the drag")
    _screenshot(page, f"{stem}_after_drag")

    errors = page.evaluate(ERRORS_JS)
    assert not errors, f"{name} has error outputs after moving the slider:\n" + "\n".join(errors)


# ----------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("name", sorted(EXPLORER_NOTEBOOKS))
def test_slider_moves_numbers_and_plot_in_jupyterlab(page, lab, name):
    assert (NOTEBOOKS / name).is_file(), f"notebook {name} is missing from notebooks/"
    from mpe_teach import widgets

    explorer = getattr(widgets, EXPLORER_NOTEBOOKS[name])()  # the same explorer, headless
    drive_explorer(page, lab, name, explorer)


def _image_outputs(notebook):
    """How many PNG/JPEG/SVG images a notebook's saved cell outputs contain."""
    count = 0
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                continue  # shown through the widget snapshot, counted there
            count += any(k in data for k in ("image/png", "image/jpeg", "image/svg+xml"))
    return count


def test_static_html_opens_offline_with_figures(browser, tmp_path):
    out = tmp_path / "html"
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "export_html.py"),
                             str(NOTEBOOKS), str(out)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"export failed:\n{result.stdout}\n{result.stderr}"
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert notebooks, "no notebooks to export"

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    # no network at all: the pages must show their figures from the files alone
    context.route("**/*", lambda route: route.continue_()
                  if route.request.url.startswith("file:") else route.abort())
    try:
        page = context.new_page()
        page.goto((out / "index.html").as_uri())
        links = page.locator("a.mpe-notebook-link")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert hrefs == [nb.with_suffix(".html").name for nb in notebooks], \
            f"index links {hrefs} do not follow the notebooks in order"
        for nb_path, href in zip(notebooks, hrefs):
            notebook = json.loads(nb_path.read_text())
            page.goto((out / href).as_uri())
            page.wait_for_load_state("load")
            sizes = page.evaluate("""() => Array.from(document.images)
                .map(i => [i.complete, i.naturalWidth, i.naturalHeight])""")
            broken = [s for s in sizes if not (s[0] and s[1] > 0 and s[2] > 0)]
            assert not broken, f"{href}: {len(broken)} of {len(sizes)} images do not render"
            views = sum("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                        for c in notebook["cells"] for o in c.get("outputs", []))
            if views:
                state = page.locator('script[type="application/vnd.jupyter.widget-state+json"]')
                assert state.count() == 1, f"{href}: the widget state is not embedded"
            snapshots = page.locator(".mpe-widget-snapshot")
            assert snapshots.count() == views, \
                f"{href}: {views} widget outputs but {snapshots.count()} static widget views"
            shown_in_widgets = page.locator(".mpe-widget-snapshot img").count()
            assert len(sizes) >= _image_outputs(notebook) + shown_in_widgets
            if nb_path.name in EXPLORER_NOTEBOOKS:
                assert views >= 1, f"{nb_path.name} was saved without its explorer's output"
                weight = page.locator(".mpe-widget-snapshot .mpe-readout .mpe-weight")
                assert weight.count() >= 1, f"{href}: the saved explorer readout is not shown"
                assert re.fullmatch(r"\d\.\d\d", weight.first.inner_text().strip())
                assert page.locator(".mpe-widget-snapshot .mpe-plot img").count() >= 1, \
                    f"{href}: the saved explorer plot is not shown"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"html_{nb_path.stem}.png"))
    finally:
        context.close()
