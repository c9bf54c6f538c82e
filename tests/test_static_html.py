"""The static HTML pages (tools/export_html.py, `make html`): usable offline.

Browser tests (headless Chromium, every request other than file: blocked): every notebook is
exported; the index lists the pages in order; on every page every formula of the notebook's
markdown is typeset by the MathJax copy beside the pages (counted per cell from the notebook's
own TeX, and no TeX left as visible text), no solution's code is shown, every figure and every
widget snapshot renders. A small notebook made here checks the snapshot of an Image widget and
a progress bar's last line in the browser too.

Without a browser: the snapshot renderer on a tiny saved widget state (Image, ToggleButtons,
Dropdown), the progress-bar streams, and the export's refusal to publish a solution.

The browser tests need Debian's Chromium at /usr/bin/chromium. Without it they are skipped,
except under CI=true, where they fail.
"""
import base64
import json
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from test_browser import SCREENSHOTS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT / "tools"))
import check_exercises  # noqa: E402
import export_html  # noqa: E402

STATE_MIME = "application/vnd.jupyter.widget-state+json"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
MATHJAX_TIMEOUT = 60  # s, until MathJax has typeset one page


# ----------------------------------------------------------------------------- small fixtures
def tiny_png(width=3, height=2, rgb=(200, 30, 30)):
    """A valid PNG of one colour, built by hand (no plotting library involved)."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def _model(name, state, buffers=None):
    state = {"_view_name": name.replace("Model", "View"), **state}
    entry = {"model_name": name, "model_module": "@jupyter-widgets/controls",
             "model_module_version": "2.0.0", "state": state}
    if buffers:
        entry["buffers"] = buffers
    return entry


def widget_state(png):
    """A saved widget state as nbclient stores it: a VBox of an Image (its bytes in
    "buffers", path ["value"]), ToggleButtons, a Dropdown, a SelectionSlider and an HTML
    readout with TeX."""
    return {
        "box": _model("VBoxModel", {"children": ["IPY_MODEL_img", "IPY_MODEL_tb", "IPY_MODEL_dd",
                                                 "IPY_MODEL_sel", "IPY_MODEL_readout"],
                                    "_dom_classes": ["mpe-explorer"]}),
        "img": _model("ImageModel", {"format": "png", "width": "120", "height": "",
                                     "_dom_classes": ["mpe-plot"], "layout": "IPY_MODEL_lay"},
                      [{"path": ["value"], "encoding": "base64",
                        "data": base64.b64encode(png).decode("ascii")}]),
        "tb": _model("ToggleButtonsModel", {"_options_labels": ["remove", "duplicate"],
                                            "index": 1, "description": "change"}),
        "dd": _model("DropdownModel", {"_options_labels": ["linear", "logistic"], "index": 0,
                                       "description": "model"}),
        "sel": _model("SelectionSliderModel", {"_options_labels": ["0", "0.1", "1"], "index": 2,
                                               "description": "δ"}),
        "readout": _model("HTMLMathModel", {
            "value": '<span class="mpe-readout">$\\Delta w = +1$: '
                     '<span class="mpe-weight">2.00</span></span>'}),
        "lay": {"model_name": "LayoutModel", "model_module": "@jupyter-widgets/base",
                "model_module_version": "2.0.0", "state": {}},
    }


def tiny_notebook(png):
    """A notebook with a formula, a progress bar's raw stream and a saved Image widget."""
    stream = "".join(f"\rtraining: {p:3d}%|{'#' * (p // 10):10s}| {p * 30 // 100}/30"
                     for p in (0, 50, 100))
    cells = [
        {"cell_type": "markdown", "id": "m0", "metadata": {},
         "source": "# Tiny\n\nThe finite form $\\Delta f_i = -\\frac{\\Delta w\\, v_i e_i}"
                   "{1 + \\Delta w \\Lambda_i v_i}$ and, displayed,\n\n$$S = \\sum_i w_i "
                   "J_i^\\top \\Lambda_i J_i + \\delta I.$$"},
        {"cell_type": "code", "id": "c0", "metadata": {}, "execution_count": 1,
         "source": "train(progress=True)",
         "outputs": [{"output_type": "stream", "name": "stderr", "text": stream},
                     {"output_type": "stream", "name": "stdout", "text": "done\n"},
                     {"output_type": "stream", "name": "stderr", "text": "\n"}]},
        {"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": 2,
         "source": "explorer",
         "outputs": [{"output_type": "display_data", "metadata": {},
                      "data": {"text/plain": "VBox(...)",
                               VIEW_MIME: {"version_major": 2, "version_minor": 0,
                                           "model_id": "box"}}}]},
    ]
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"},
                         "widgets": {STATE_MIME: {"version_major": 2, "version_minor": 0,
                                                  "state": widget_state(png)}}}}


# ----------------------------------------------------------------------------- without a browser
def test_snapshot_of_an_image_widget_shows_its_saved_bytes():
    png = tiny_png()
    metadata = {"widgets": {STATE_MIME: {"state": widget_state(png)}}}
    html = export_html.widget_snapshot({"model_id": "box"}, metadata)
    images = re.findall(r'<div class="mpe-snap mpe-plot"><img alt="figure" '
                        r'src="data:image/png;base64,([^"]+)" width="120"></div>', html)
    assert len(images) == 1, html
    assert base64.b64decode(images[0]) == png
    # every option of the ToggleButtons, the saved one pressed; the Dropdown's saved choice
    assert re.findall(r'<button disabled aria-pressed="(true|false)">(\w+)</button>', html) == [
        ("false", "remove"), ("true", "duplicate")]
    assert "<option selected>linear</option><option>logistic</option>" in html
    assert re.search(r'<span>δ</span><input type="range" disabled min="0" max="2" step="1" '
                     r'value="2"[^>]*><span class="widget-readout">1</span>', html)
    assert '<span class="mpe-weight">2.00</span>' in html


def test_snapshot_of_an_image_widget_without_saved_bytes_says_so():
    state = widget_state(tiny_png())
    del state["img"]["buffers"]
    html = export_html.widget_snapshot({"model_id": "img"}, {"widgets": {STATE_MIME: {
        "state": state}}})
    assert "(image not saved)" in html and "<img" not in html


def test_every_visible_widget_of_the_notebooks_has_a_static_view():
    import nbformat

    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        left_out = export_html.unrendered_widgets(nbformat.read(path, as_version=4))
        assert not left_out, f"{path.name}: the static view leaves out {left_out}"
    notebook = nbformat.from_dict(tiny_notebook(tiny_png()))
    assert export_html.unrendered_widgets(notebook) == []
    state = notebook.metadata.widgets[STATE_MIME]["state"]
    state["pick"] = _model("ColorPickerModel", {"value": "red"})
    state["box"]["state"]["children"].append("IPY_MODEL_pick")
    assert export_html.unrendered_widgets(notebook) == ["ColorPickerModel"]


def test_progress_bar_streams_show_their_last_line():
    outputs = tiny_notebook(tiny_png())["cells"][1]["outputs"]
    shown = export_html.last_stream_state(outputs)
    assert [(o["name"], o["text"]) for o in shown] == [
        ("stderr", "training: 100%|##########| 30/30"), ("stdout", "done\n")]
    cleared = [{"output_type": "stream", "name": "stderr", "text": "\rrefits: 50%\r    \r"}]
    assert export_html.last_stream_state(cleared) == []  # a bar that cleared itself (leave=False)


def test_export_refuses_a_page_that_shows_a_solution(tmp_path):
    source = tmp_path / "notebooks"
    (source / "solutions").mkdir(parents=True)
    (source / "solutions" / "98_ex1.py").write_text("answer_1 = v * e / (1 - lam * v)\n")
    notebook = tiny_notebook(tiny_png())
    notebook["cells"][0]["source"] += "\n\nSolution: `answer_1 = v * e / (1 - lam * v)`"
    (source / "98_tiny.ipynb").write_text(json.dumps(notebook))
    with pytest.raises(ValueError, match=r"98_tiny.ipynb: the code of solutions/98_ex1.py "
                                         r"appears in cell 0"):
        export_html.export(source, tmp_path / "html")
    assert not (tmp_path / "html" / "98_tiny.html").exists()


# ----------------------------------------------------------------------------- in a browser
@pytest.fixture
def offline(browser):
    """A page on which nothing but file: URLs loads."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.route("**/*", lambda route: route.continue_()
                  if route.request.url.startswith("file:") else route.abort())
    try:
        yield context.new_page()
    finally:
        context.close()


def _export(source, out):
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "export_html.py"),
                             str(source), str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"export failed:\n{result.stdout}\n{result.stderr}"


def _formulas(markdown):
    """How many formulas a markdown cell holds ($...$ and $$...$$ outside code), counted
    from the notebook's own text."""
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text).replace(r"\$", "")
    display = len(re.findall(r"\$\$.+?\$\$", text, flags=re.S))
    text = re.sub(r"\$\$.+?\$\$", "", text, flags=re.S)
    return display + len(re.findall(r"\$[^$]+\$", text))


def _image_outputs(notebook):
    """How many PNG/JPEG/SVG images a notebook's saved cell outputs contain."""
    count = 0
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if VIEW_MIME in data:
                continue  # shown through the widget snapshot, counted there
            count += any(k in data for k in ("image/png", "image/jpeg", "image/svg+xml"))
    return count


# per markdown cell: how many formulas MathJax typeset, and which of them failed to render
MATH_JS = """() => Array.from(document.querySelectorAll('.jp-MarkdownCell')).map(cell => {
  const scripts = Array.from(cell.querySelectorAll('script[type^="math/tex"]'));
  const bad = scripts.filter(s => {
    const frame = document.getElementById(s.id + '-Frame');
    if (!frame) return true;
    const box = frame.getBoundingClientRect();
    const copy = frame.cloneNode(true);
    copy.querySelectorAll('.MJX_Assistive_MathML').forEach(e => e.remove());
    return box.width === 0 || box.height === 0 || /\\\\/.test(copy.textContent);
  }).map(s => s.textContent.slice(0, 80));
  return [scripts.length, bad];
})"""

# the visible text outside formulas and code: no TeX may be left there
RAW_TEX_JS = """() => {
  const found = [];
  document.querySelectorAll('.jp-MarkdownCell, .mpe-widget-snapshot').forEach(cell => {
    const copy = cell.cloneNode(true);
    copy.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_Preview, script, style, code, '
                          + 'pre, .MJX_Assistive_MathML').forEach(e => e.remove());
    const text = copy.textContent;
    const tex = text.match(/\\\\[A-Za-z]+|\\$[^$\\s][^$]*\\$/);
    if (tex) found.push(tex[0].slice(0, 60) + ' in: ' + text.trim().slice(0, 80));
  });
  document.querySelectorAll('.MathJax_Error, .noError, .MathJax .merror').forEach(
    e => found.push('TeX error: ' + e.textContent.slice(0, 80)));
  return found;
}"""

IMAGES_JS = """() => Array.from(document.images).map(i => [i.complete, i.naturalWidth,
    i.naturalHeight, (i.getAttribute('src') || '').slice(0, 40)])"""


def _typeset(page, name):
    """Wait until MathJax (loaded from the copy beside the page) has typeset the page."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("() => window.MathJax && MathJax.isReady",
                               timeout=MATHJAX_TIMEOUT * 1000, polling=200)
    except PlaywrightTimeout:
        pytest.fail(f"{name}: MathJax did not load from the copy beside the page")
    page.evaluate("() => new Promise(done => MathJax.Hub.Queue(() => done(true)))")


def _check_page(page, name, notebook):
    """Formulas typeset, no raw TeX, every image rendered, one snapshot per widget output."""
    _typeset(page, name)
    markdown = [_formulas("".join(c["source"])) for c in notebook["cells"]
                if c["cell_type"] == "markdown"]
    typeset = page.evaluate(MATH_JS)
    assert [n for n, _ in typeset] == markdown, \
        f"{name}: formulas per markdown cell, typeset {[n for n, _ in typeset]}, in the " \
        f"notebook {markdown}"
    bad = [b for _, cell in typeset for b in cell]
    assert not bad, f"{name}: {len(bad)} formula(s) not rendered: {bad[:5]}"
    raw = page.evaluate(RAW_TEX_JS)
    assert not raw, f"{name}: TeX left as text: {raw[:5]}"

    images = page.evaluate(IMAGES_JS)
    broken = [i for i in images if not (i[0] and i[1] > 0 and i[2] > 0)]
    assert not broken, f"{name}: {len(broken)} of {len(images)} images do not render: {broken[:3]}"
    views = sum(VIEW_MIME in o.get("data", {}) for c in notebook["cells"]
                for o in c.get("outputs", []))
    if views:
        state = page.locator(f'script[type="{STATE_MIME}"]')
        assert state.count() == 1, f"{name}: the widget state is not embedded"
    snapshots = page.locator(".mpe-widget-snapshot")
    assert snapshots.count() == views, \
        f"{name}: {views} widget outputs but {snapshots.count()} static widget views"
    for i in range(views):
        snapshot = snapshots.nth(i)
        assert snapshot.locator(".mpe-snap-note").count() == 0, \
            f"{name}: widget snapshot {i} says {snapshot.inner_text()[:120]!r}"
        box = snapshot.bounding_box()
        assert box and box["height"] > 5 and box["width"] > 5, \
            f"{name}: widget snapshot {i} is empty"
    shown_in_widgets = page.locator(".mpe-widget-snapshot img").count()
    assert len(images) >= _image_outputs(notebook) + shown_in_widgets
    return images


def _has_explorer(notebook):
    states = notebook["metadata"].get("widgets", {}).get(STATE_MIME, {}).get("state", {})
    return any("mpe-explorer" in m.get("state", {}).get("_dom_classes", [])
               for m in states.values())


def _solutions_shown(page, path):
    """The solution lines of notebook `path` found in the visible text of any of its cells."""
    pre = check_exercises.prefix(path)
    solutions = sorted((path.parent / "solutions").glob(f"{pre}_ex*.py")) if pre else []
    if not solutions:
        return []
    texts = page.evaluate("() => Array.from(document.querySelectorAll('.jp-Cell'))"
                          ".map(c => c.innerText)")
    return [f"solutions/{s.name} in cell {i}: {found[0]!r}" for s in solutions
            for i, text in enumerate(texts)
            for found in [check_exercises.leaked_lines(s.read_text(), text)] if found]


@pytest.mark.browser
def test_static_html_opens_offline_with_math_and_figures(offline, tmp_path):
    out = tmp_path / "html"
    _export(NOTEBOOKS, out)
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert notebooks, "no notebooks to export"
    assert (out / "mathjax" / "MathJax.js").is_file(), "MathJax was not copied beside the pages"
    assert not list(out.rglob("*.py")), "a .py file (a solution?) was copied with the pages"

    page = offline
    page.goto((out / "index.html").as_uri())
    links = page.locator("a.mpe-notebook-link")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs == [nb.with_suffix(".html").name for nb in notebooks], \
        f"index links {hrefs} do not follow the notebooks in order"
    for nb_path, href in zip(notebooks, hrefs):
        notebook = json.loads(nb_path.read_text(encoding="utf-8"))
        page.goto((out / href).as_uri())
        page.wait_for_load_state("load")
        _check_page(page, href, notebook)
        shown = _solutions_shown(page, nb_path)
        assert not shown, f"{href} shows solution code: {shown}"
        if _has_explorer(notebook):  # the library's explorers: a readout and a plot
            # every explorer's readout shows its estimate (weight, epoch or δ beside it)
            est = page.locator(".mpe-widget-snapshot .mpe-readout .mpe-est")
            assert est.count() >= 1, f"{href}: the saved explorer readout is not shown"
            assert re.fullmatch(r"-?\d+\.\d{4}", est.first.inner_text().strip())
            assert page.locator(".mpe-widget-snapshot .mpe-plot img").count() >= 1, \
                f"{href}: the saved explorer plot is not shown"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"html_{nb_path.stem}.png"))


@pytest.mark.browser
def test_static_html_of_a_small_notebook_shows_image_widget_bar_and_math(offline, tmp_path):
    source = tmp_path / "notebooks"
    source.mkdir()
    png = tiny_png(width=40, height=20)
    notebook = tiny_notebook(png)
    (source / "98_tiny.ipynb").write_text(json.dumps(notebook))
    _export(source, tmp_path / "html")
    page = offline
    page.goto((tmp_path / "html" / "98_tiny.html").as_uri())
    images = _check_page(page, "98_tiny.html", notebook)
    assert [i[1:3] for i in images] == [[40, 20]]  # the Image widget's saved bytes, decoded
    plot = page.locator(".mpe-widget-snapshot .mpe-plot img")
    assert plot.count() == 1 and plot.evaluate("i => i.width") == 120  # its saved width
    pressed = page.locator('.mpe-widget-snapshot button[aria-pressed="true"]')
    assert pressed.inner_text() == "duplicate"
    streams = page.locator(".jp-OutputArea-output pre").all_inner_texts()
    assert "training: 100%|##########| 30/30" in streams
    assert not any("50%" in s or "  0%" in s for s in streams), streams
    readout = page.locator(".mpe-widget-snapshot .mpe-readout")
    assert readout.locator(".MathJax").count() == 1  # TeX in an HTMLMath widget is typeset too
