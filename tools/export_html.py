"""Export every notebook to static HTML, readable without a kernel or a network.

    python tools/export_html.py notebooks build/html

Each notebook becomes NAME.html (nbconvert's lab template) with the saved widget state
embedded, and build/html/index.html lists them in learning-path order (file-name order:
00_..., 01_..., ...) under the title of each notebook's first heading.

Equations: MathJax 2.7 (the copy the jupyter-server-mathjax package ships, a dev dependency) is
copied into build/html/mathjax/ and the pages load it from there, so TeX is typeset offline.

Figures: the PNGs in the cell outputs are embedded in the page. Widgets: nbconvert's widget
renderer is a script on a CDN, so without a network it would show nothing where a slider
and its plot were. Every widget output therefore also gets a static view built here from the
saved widget state (slider position, readout text, the images of Image widgets, the plots of
Output widgets). When the CDN script does load, it draws the live widgets and the static view
is hidden.

Progress bars and other streams are shown as their last state (a bar's final line, not every
update). The export refuses a page that shows the code of one of the notebook's solutions
(notebooks/solutions/NN_exK.py).
"""
import argparse
import base64
import html
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

import jinja2
import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from check_exercises import solution_leaks  # tools/check_exercises.py, beside this file
from mpe_teach.safeio import check_output_dir, check_output_file, write_atomic

STATE_MIME = "application/vnd.jupyter.widget-state+json"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
ASSETS = ("*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg")

# MathJax 2.7 as jupyter-server-mathjax ships it (TeX input, HTML-CSS output, STIX-Web fonts),
# copied beside the pages without the parts they never load: the SVG output, the accessibility
# add-ons and the menus' translations other than English (the copy: 2.8 of its 12 MB)
MATHJAX_PACKAGE = "jupyter_server_mathjax"
MATHJAX_FOLDER = "mathjax"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
MATHJAX_SKIP = {"jax/output/SVG", "extensions/a11y"}
MATHJAX_LANGUAGES = {"en"}

# nbconvert's lab page, with a static view placed after every widget output
PAGE_TEMPLATE = r"""
{%- extends 'lab/index.html.j2' -%}
{%- block data_widget_view scoped %}
<div class="mpe-widget-output">
{{ super() }}
{{ output.data['application/vnd.jupyter.widget-view+json'] | widget_snapshot(nb.metadata) }}
</div>
{%- endblock data_widget_view -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
// always the web fonts copied beside MathJax (STIX-Web), whatever fonts the reader has
// installed; no fast preview first (it would ask for TeX fonts this copy does not have)
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web",
                                 imageFont: null},
                    "fast-preview": {disabled: true}});
</script>
{{ super() }}
{%- endblock html_head_js_mathjax -%}
{%- block footer %}
<style>
.mpe-widget-output { display: flex; flex-direction: column; flex-grow: 1; min-width: 0; }
.mpe-widget-snapshot { padding: 4px 0; }
.mpe-widget-snapshot .mpe-snap-row { display: flex; flex-direction: row; align-items: center;
  gap: 8px; flex-wrap: wrap; }
.mpe-widget-snapshot .mpe-snap-col { display: flex; flex-direction: column; gap: 4px; }
.mpe-widget-snapshot img { max-width: 100%; }
.mpe-widget-snapshot .mpe-snap-note { color: #777; font-size: 85%; }
.mpe-widget-snapshot button[aria-pressed="true"] { font-weight: bold; background: #d0d0d0; }
/* the hidden MathML that MathJax adds for screen readers asks for TeX fonts not copied here */
.MJX_Assistive_MathML, .MJX_Assistive_MathML * { font-family: serif !important; }
</style>
<script>
// a live widget drawn by the CDN renderer replaces the static view next to it
(function () {
  function hideStatic() {
    document.querySelectorAll('.mpe-widget-snapshot').forEach(function (snap) {
      var live = snap.previousElementSibling;
      if (live && live.querySelector('.widget-subarea > *')) { snap.style.display = 'none'; }
    });
  }
  var watcher = new MutationObserver(hideStatic);
  document.addEventListener('DOMContentLoaded', function () {
    watcher.observe(document.body, {childList: true, subtree: true});
  });
}());
</script>
{{ super() }}
{%- endblock footer -%}
"""

INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>mpe_teach: the notebooks</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 48em; margin: 2em auto; padding: 0 1em;
       line-height: 1.5; color: #222; }}
li {{ margin: 0.6em 0; }}
.mpe-summary {{ color: #555; display: block; }}
</style>
</head>
<body>
<h1>mpe_teach: how a model depends on each training example</h1>
<p>The notebooks in learning-path order. Each page was saved after running every cell: the
figures and the last position of every slider are shown as they were; moving a slider needs
a running kernel (open the notebook in JupyterLab).</p>
<ol>
{items}
</ol>
</body>
</html>
"""


# ----------------------------------------------------------------------------- widget snapshots
def _model_id(ref):
    """'IPY_MODEL_abc' -> 'abc'."""
    return ref[len("IPY_MODEL_"):] if isinstance(ref, str) and ref.startswith("IPY_MODEL_") else ref


def _format_value(value, fmt):
    try:
        return format(value, fmt or ".2f")
    except (TypeError, ValueError):
        return html.escape(str(value))


def _image(data, mime, alt="figure", size=""):
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{data}"{size}>'


def _render_outputs(outputs, states=None, depth=0):
    """Static HTML for the saved outputs of an Output widget."""
    parts = []
    for output in last_stream_state(outputs):
        data = output.get("data", {})
        if output.get("output_type") == "stream":
            parts.append(f"<pre>{html.escape(''.join(output.get('text', '')))}</pre>")
        elif VIEW_MIME in data and states is not None:
            parts.append(_render_widget(data[VIEW_MIME].get("model_id"), states, depth + 1))
        elif "image/png" in data:
            parts.append(_image(data["image/png"], "image/png"))
        elif "image/jpeg" in data:
            parts.append(_image(data["image/jpeg"], "image/jpeg"))
        elif "image/svg+xml" in data:
            parts.append("".join(data["image/svg+xml"]))
        elif "text/html" in data:
            parts.append("".join(data["text/html"]))
        elif "text/plain" in data:
            parts.append(f"<pre>{html.escape(''.join(data['text/plain']))}</pre>")
    return "".join(parts)


def _buffer(entry, key):
    """The base64 text of a binary trait (an Image's value) from the saved state's buffers."""
    for buffer in entry.get("buffers", []):
        if list(buffer.get("path", [])) == [key]:
            data = buffer.get("data", "")
            if buffer.get("encoding") == "hex":
                data = base64.b64encode(bytes.fromhex(data)).decode("ascii")
            return data
    return None


IMAGE_MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
              "svg+xml": "image/svg+xml", "svg": "image/svg+xml", "webp": "image/webp"}


def _size(s):
    """An Image's width/height ("400", "400px", "50%") as img attributes/style."""
    attrs, style = [], []
    for key in ("width", "height"):
        value = str(s.get(key) or "").strip()
        if value.isdigit():
            attrs.append(f'{key}="{value}"')
        elif value:
            style.append(f"{key}: {html.escape(value)}")
    if style:
        attrs.append(f'style="{"; ".join(style)}"')
    return "".join(f" {a}" for a in attrs)


def _render_widget(model_id, states, depth=0):
    """Static HTML for one widget model and its children, from the saved widget state."""
    entry = states.get(_model_id(model_id))
    if entry is None or depth > 50:
        return ""
    name = entry.get("model_name", "")
    s = entry.get("state", {})
    classes = " ".join(["mpe-snap"] + list(s.get("_dom_classes", [])))
    description = s.get("description") or ""
    label = f"<span>{html.escape(description)}</span>" if description else ""
    if name.endswith("BoxModel") or name in {"AccordionModel", "TabModel", "StackModel"}:
        layout = "mpe-snap-row" if name == "HBoxModel" else "mpe-snap-col"
        children = "".join(_render_widget(c, states, depth + 1) for c in s.get("children", []))
        return f'<div class="{classes} {layout}">{children}</div>'
    if name in {"HTMLModel", "HTMLMathModel"}:
        return f'<div class="{classes}">{label}{s.get("value", "")}</div>'
    if name in {"LabelModel", "TextModel", "TextareaModel"}:
        return f'<div class="{classes}">{label}{html.escape(str(s.get("value", "")))}</div>'
    if name == "ImageModel":
        data = _buffer(entry, "value")
        fmt = str(s.get("format") or "png").lower()
        if not data:
            return f'<div class="{classes} mpe-snap-note">(image not saved)</div>'
        if fmt == "url":  # the value is the image's address, not its bytes
            url = html.escape(base64.b64decode(data).decode("utf-8", "replace"))
            return f'<div class="{classes}"><img alt="figure" src="{url}"{_size(s)}></div>'
        mime = IMAGE_MIME.get(fmt, f"image/{fmt}")
        return f'<div class="{classes}">{_image(data, mime, size=_size(s))}</div>'
    if name in {"FloatSliderModel", "IntSliderModel", "FloatLogSliderModel"}:
        value, low, high = s.get("value", 0), s.get("min", 0), s.get("max", 1)
        step = s.get("step") or "any"
        fmt = s.get("readout_format") or (".2f" if name != "IntSliderModel" else "d")
        shown = _format_value(value, fmt)
        return (f'<div class="{classes} mpe-snap-row">{label}'
                f'<input type="range" disabled min="{low}" max="{high}" step="{step}" '
                f'value="{value}" aria-label="{html.escape(description or "slider")}">'
                f'<span class="widget-readout">{shown}</span></div>')
    if name == "SelectionSliderModel":  # a slider over labelled options (δ = 0.01, 0.1, ...)
        labels, index = s.get("_options_labels", []), s.get("index")
        shown = labels[index] if isinstance(index, int) and 0 <= index < len(labels) else ""
        return (f'<div class="{classes} mpe-snap-row">{label}'
                f'<input type="range" disabled min="0" max="{max(len(labels) - 1, 0)}" step="1" '
                f'value="{index}" aria-label="{html.escape(description or "slider")}">'
                f'<span class="widget-readout">{html.escape(str(shown))}</span></div>')
    if name in {"FloatProgressModel", "IntProgressModel"}:
        value, high = s.get("value", 0), s.get("max", 100)
        bar = f'<progress value="{value}" max="{high}"></progress>'
        return f'<div class="{classes}">{label}{bar}</div>'
    if name == "OutputModel":
        outputs = _render_outputs(s.get("outputs", []), states, depth)
        return f'<div class="{classes}">{outputs}</div>'
    if name in {"CheckboxModel", "ToggleButtonModel"}:
        mark = "☑" if s.get("value") else "☐"
        return f'<div class="{classes}">{mark} {html.escape(description)}</div>'
    labels, index = s.get("_options_labels", []), s.get("index")
    if name in {"ToggleButtonsModel", "RadioButtonsModel"}:  # every option, the chosen pressed
        buttons = "".join(
            f'<button disabled aria-pressed="{"true" if i == index else "false"}">'
            f"{html.escape(str(option))}</button>" for i, option in enumerate(labels))
        return f'<div class="{classes} mpe-snap-row">{label}{buttons}</div>'
    if name in {"DropdownModel", "SelectModel"}:
        options = "".join(f'<option{" selected" if i == index else ""}>'
                          f"{html.escape(str(option))}</option>" for i, option in enumerate(labels))
        return (f'<div class="{classes} mpe-snap-row">{label}<select disabled '
                f'aria-label="{html.escape(description or "choice")}">{options}</select></div>')
    if name == "ButtonModel":
        return f'<div class="{classes}"><button disabled>{html.escape(description)}</button></div>'
    return ""  # layout, style and other non-visual models


def unrendered_widgets(notebook):
    """The visible widgets (model names) that a snapshot of this notebook would leave out."""
    states = notebook.metadata.get("widgets", {}).get(STATE_MIME, {}).get("state", {})
    todo = [o["data"][VIEW_MIME].get("model_id") for c in notebook.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if VIEW_MIME in o.get("data", {})]
    seen, missing = set(), []
    while todo:
        model_id = _model_id(todo.pop())
        entry = states.get(model_id)
        if entry is None or model_id in seen:
            continue
        seen.add(model_id)
        state = entry.get("state", {})
        todo += list(state.get("children", []))
        todo += [o["data"][VIEW_MIME].get("model_id") for o in state.get("outputs", [])
                 if VIEW_MIME in o.get("data", {})]
        if state.get("_view_name") and not _render_widget(model_id, {model_id: entry}):
            missing.append(entry.get("model_name", "?"))
    return sorted(missing)


def widget_snapshot(view, metadata):
    """The static view of a widget output, or a short note when no state was saved."""
    states = metadata.get("widgets", {}).get(STATE_MIME, {}).get("state", {})
    body = _render_widget(view.get("model_id"), states)
    if not body:
        body = ('<span class="mpe-snap-note">(interactive widget: its state was not saved; '
                "run the notebook to see it)</span>")
    return f'<div class="mpe-widget-snapshot jp-OutputArea-output">{body}</div>'


# ----------------------------------------------------------------------------- export
def first_heading(notebook, fallback):
    """The text of the notebook's first markdown heading ('# Title' -> 'Title')."""
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                return stripped.lstrip("#").strip() or fallback
    return fallback


def widget_problems(notebook):
    """What stops the saved widgets from being shown without a kernel ('' if nothing)."""
    views = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if VIEW_MIME in o.get("data", {})]
    if not views:
        return ""
    states = notebook.metadata.get("widgets", {}).get(STATE_MIME, {}).get("state", {})
    if not states:
        return (f"{len(views)} widget output(s) but no saved widget state "
                f"(metadata.widgets['{STATE_MIME}']); execute with store_widget_state=True")
    missing = [o["data"][VIEW_MIME].get("model_id") for o in views
               if o["data"][VIEW_MIME].get("model_id") not in states]
    if missing:
        return f"widget state lacks the models of {len(missing)} widget output(s)"
    return ""


# ----------------------------------------------------------------------------- streams
def _last_state(text):
    """Each line as a terminal leaves it: the text after its last carriage return."""
    text = text.replace("\r\n", "\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def last_stream_state(outputs):
    """Consecutive stream outputs of one name merged and shown as a terminal leaves them (a
    progress bar: its final line, not every update); streams left blank (a bar that cleared
    itself) dropped. Other outputs unchanged."""
    merged = []
    for output in outputs:
        if output.get("output_type") != "stream":
            merged.append(output)
            continue
        text = output.get("text", "")
        text = "".join(text) if isinstance(text, list) else text
        last = merged[-1] if merged else None
        if last is not None and last.get("output_type") == "stream" \
                and last.get("name") == output.get("name"):
            last["text"] += text
        else:
            merged.append(nbformat.from_dict({"output_type": "stream",
                                              "name": output.get("name"), "text": text}))
    kept = []
    for output in merged:
        if output.get("output_type") == "stream":
            output["text"] = _last_state(output["text"])
            if not output["text"].strip():
                continue
        kept.append(output)
    return kept


class LastStreamState(Preprocessor):
    """last_stream_state on every code cell's outputs."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.outputs = last_stream_state(cell.get("outputs", []))
        return cell, resources


# ----------------------------------------------------------------------------- MathJax
def mathjax_source():
    """The folder of MathJax.js in the installed jupyter-server-mathjax package, or None."""
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(list(spec.submodule_search_locations)[0]) / "static"
    return static if (static / "MathJax.js").is_file() else None


def _mathjax_unused(folder, names):
    """The names in `folder` (relative to MathJax's root) that the pages never load."""
    folder = Path(folder)
    return [name for name in names
            if (folder / name).as_posix() in MATHJAX_SKIP
            or (folder.as_posix() == "localization" and name not in MATHJAX_LANGUAGES)]


def copy_mathjax(source, target):
    """Copy MathJax from `source` to target/mathjax (less the unused parts), replacing an older
    copy whole."""
    source, target = Path(source), Path(target)
    destination = target / MATHJAX_FOLDER
    check_output_dir(destination, what="MathJax folder", create=False)
    fresh = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=target))
    try:
        shutil.copytree(source, fresh, dirs_exist_ok=True,
                        ignore=lambda folder, names: _mathjax_unused(
                            Path(folder).relative_to(source), names))
        fresh.chmod(0o755)
        old = None
        if destination.exists():
            old = Path(tempfile.mkdtemp(prefix=".mathjax-old-", dir=target))
            destination.rename(old / MATHJAX_FOLDER)
        fresh.rename(destination)
        fresh = None
        if old is not None:
            shutil.rmtree(old)
    finally:
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
    return destination


# ----------------------------------------------------------------------------- export
def make_exporter(widget_renderer_url="", require_js_url="", mathjax_url=""):
    """nbconvert's HTML exporter with the static widget views and the streams' last state.

    The URLs (optional) point the live widget renderer (@jupyter-widgets/html-manager's
    dist/embed-amd.js), require.js and MathJax at other copies than nbconvert's CDN ones."""
    urls = {}
    if widget_renderer_url:
        urls["widget_renderer_url"] = widget_renderer_url
    if require_js_url:
        urls["require_js_url"] = require_js_url
    if mathjax_url:
        urls["mathjax_url"] = mathjax_url
    exporter = HTMLExporter(
        **urls,
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"mpe_page.html.j2": PAGE_TEMPLATE})],
        template_file="mpe_page.html.j2",
    )
    exporter.register_preprocessor(LastStreamState(), enabled=True)
    exporter.register_filter("widget_snapshot", widget_snapshot)
    return exporter


def export(source, target, widget_renderer_url="", require_js_url="", mathjax_url=""):
    """Export source/*.ipynb to target/*.html and write target/index.html; returns the pages.

    Without `mathjax_url`, MathJax is copied to target/mathjax and the pages load it there."""
    source, target = Path(source), Path(target)
    if not source.is_dir():
        raise ValueError(f"source must be a folder of notebooks; received {source}")
    paths = sorted(source.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"source must contain .ipynb files; {source} has none")
    mathjax = None
    if not mathjax_url:
        mathjax = mathjax_source()
        if mathjax is None:
            raise ValueError(f"MathJax not found: the {MATHJAX_PACKAGE.replace('_', '-')} package "
                             "(in the [dev] extra: make install) ships the copy the pages use; "
                             "or give --mathjax-url")
        mathjax_url = f"{MATHJAX_FOLDER}/MathJax.js?config={MATHJAX_CONFIG}"
    # refuse a file or a read-only folder, or a page that cannot be replaced, before any work;
    # every file is then written through write_atomic (all or nothing, mode and owner kept)
    check_output_dir(target, what="target folder")
    for path in paths:
        check_output_file(target / f"{path.stem}.html", inputs=[path], what="page")
    check_output_file(target / "index.html", what="index")
    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    leaks = [leak for path, nb in zip(paths, notebooks) for leak in solution_leaks(path, nb.cells)]
    if leaks:
        raise ValueError("a page would show a solution:\n" + "\n".join(leaks))
    exporter = make_exporter(widget_renderer_url, require_js_url, mathjax_url)
    pages = []
    for path, notebook in zip(paths, notebooks):
        problem = widget_problems(notebook)
        if problem:
            print(f"warning: {path.name}: {problem}", file=sys.stderr)
        left_out = unrendered_widgets(notebook)
        if left_out:
            print(f"warning: {path.name}: the static view leaves out {', '.join(left_out)} "
                  "(no snapshot renderer for them in tools/export_html.py)", file=sys.stderr)
        title = first_heading(notebook, path.stem)
        notebook.metadata["title"] = title  # the page's <title>
        body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
        page = target / f"{path.stem}.html"
        write_atomic(page, lambda f: f.write(body), inputs=[path], what="page")
        pages.append((page.name, title))
        print(f"{path.name} -> {page}")
    for pattern in ASSETS:  # images a markdown cell links to
        for asset in source.rglob(pattern):
            destination = target / asset.relative_to(source)
            check_output_dir(destination.parent, what="asset folder")
            with open(asset, "rb") as original:
                write_atomic(destination, lambda f: shutil.copyfileobj(original, f), binary=True,
                             inputs=[asset], what="asset")
    if mathjax is not None:
        print(f"MathJax: {copy_mathjax(mathjax, target)}")
    items = "\n".join(f'<li><a class="mpe-notebook-link" href="{html.escape(name)}">'
                      f"{html.escape(title)}</a></li>" for name, title in pages)
    index = INDEX_TEMPLATE.format(items=items)
    write_atomic(target / "index.html", lambda f: f.write(index), what="index")
    print(f"index: {target / 'index.html'}")
    return pages


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="folder of .ipynb files (e.g. notebooks)")
    parser.add_argument("target", help="folder for the HTML pages (e.g. build/html)")
    parser.add_argument("--widget-renderer-url", default="",
                        help="URL of a local @jupyter-widgets/html-manager dist/embed-amd.js "
                             "(default: the CDN; the static widget views need neither)")
    parser.add_argument("--require-js-url", default="",
                        help="URL of a local require.js (default: the CDN)")
    parser.add_argument("--mathjax-url", default="",
                        help="URL of MathJax 2 with its config (default: a copy under "
                             "TARGET/mathjax, from the jupyter-server-mathjax package)")
    args = parser.parse_args(argv)
    try:
        export(args.source, args.target, args.widget_renderer_url, args.require_js_url,
               args.mathjax_url)
    except ValueError as err:
        parser.error(str(err))


if __name__ == "__main__":
    main()
