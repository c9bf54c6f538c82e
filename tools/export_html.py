"""Export every notebook to static HTML, readable without a kernel or a network.

    python tools/export_html.py notebooks build/html

Each notebook becomes NAME.html (nbconvert's lab template) with the saved widget state
embedded, and build/html/index.html lists them in learning-path order (file-name order:
01_..., 02_..., ...) under the title of each notebook's first heading.

Figures: the PNGs in the cell outputs are embedded in the page. Widgets: nbconvert's widget
renderer is a script on a CDN, so without a network it would show nothing where a slider
and its plot were. Every widget output therefore also gets a static view built here from the
saved widget state (slider position, readout text, the plot images of Output widgets). When
the CDN script does load, it draws the live widgets and the static view is hidden.
"""
import argparse
import html
import shutil
import sys
from pathlib import Path

import jinja2
import nbformat
from nbconvert import HTMLExporter

from mpe_teach.safeio import check_output_dir, check_output_file, write_atomic

STATE_MIME = "application/vnd.jupyter.widget-state+json"
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
ASSETS = ("*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg")

# nbconvert's lab page, with a static view placed after every widget output
PAGE_TEMPLATE = r"""
{%- extends 'lab/index.html.j2' -%}
{%- block data_widget_view scoped %}
<div class="mpe-widget-output">
{{ super() }}
{{ output.data['application/vnd.jupyter.widget-view+json'] | widget_snapshot(nb.metadata) }}
</div>
{%- endblock data_widget_view -%}
{%- block footer %}
<style>
.mpe-widget-output { display: flex; flex-direction: column; flex-grow: 1; min-width: 0; }
.mpe-widget-snapshot { padding: 4px 0; }
.mpe-widget-snapshot .mpe-snap-row { display: flex; flex-direction: row; align-items: center;
  gap: 8px; flex-wrap: wrap; }
.mpe-widget-snapshot .mpe-snap-col { display: flex; flex-direction: column; gap: 4px; }
.mpe-widget-snapshot img { max-width: 100%; }
.mpe-widget-snapshot .mpe-snap-note { color: #777; font-size: 85%; }
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


def _render_outputs(outputs):
    parts = []
    for output in outputs:
        data = output.get("data", {})
        if output.get("output_type") == "stream":
            parts.append(f"<pre>{html.escape(''.join(output.get('text', '')))}</pre>")
        elif "image/png" in data:
            parts.append(f'<img alt="figure" src="data:image/png;base64,{data["image/png"]}">')
        elif "image/jpeg" in data:
            parts.append(f'<img alt="figure" src="data:image/jpeg;base64,{data["image/jpeg"]}">')
        elif "image/svg+xml" in data:
            parts.append("".join(data["image/svg+xml"]))
        elif "text/html" in data:
            parts.append("".join(data["text/html"]))
        elif "text/plain" in data:
            parts.append(f"<pre>{html.escape(''.join(data['text/plain']))}</pre>")
    return "".join(parts)


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
    if name in {"FloatSliderModel", "IntSliderModel", "FloatLogSliderModel"}:
        value, low, high = s.get("value", 0), s.get("min", 0), s.get("max", 1)
        step = s.get("step") or "any"
        fmt = s.get("readout_format") or (".2f" if name != "IntSliderModel" else "d")
        shown = _format_value(value, fmt)
        return (f'<div class="{classes} mpe-snap-row">{label}'
                f'<input type="range" disabled min="{low}" max="{high}" step="{step}" '
                f'value="{value}" aria-label="{html.escape(description or "slider")}">'
                f'<span class="widget-readout">{shown}</span></div>')
    if name in {"FloatProgressModel", "IntProgressModel"}:
        value, high = s.get("value", 0), s.get("max", 100)
        bar = f'<progress value="{value}" max="{high}"></progress>'
        return f'<div class="{classes}">{label}{bar}</div>'
    if name == "OutputModel":
        return f'<div class="{classes}">{_render_outputs(s.get("outputs", []))}</div>'
    if name in {"CheckboxModel", "ToggleButtonModel"}:
        mark = "☑" if s.get("value") else "☐"
        return f'<div class="{classes}">{mark} {html.escape(description)}</div>'
    if name in {"DropdownModel", "RadioButtonsModel", "ToggleButtonsModel", "SelectModel"}:
        labels, index = s.get("_options_labels", []), s.get("index")
        chosen = labels[index] if isinstance(index, int) and 0 <= index < len(labels) else ""
        return f'<div class="{classes}">{label} {html.escape(str(chosen))}</div>'
    if name == "ButtonModel":
        return f'<div class="{classes}"><button disabled>{html.escape(description)}</button></div>'
    return ""  # layout, style and other non-visual models


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


def make_exporter(widget_renderer_url="", require_js_url=""):
    """nbconvert's HTML exporter with the static widget views; the two URLs (optional) point
    the live widget renderer (@jupyter-widgets/html-manager's dist/embed-amd.js) and
    require.js at local copies instead of the CDN."""
    urls = {}
    if widget_renderer_url:
        urls["widget_renderer_url"] = widget_renderer_url
    if require_js_url:
        urls["require_js_url"] = require_js_url
    exporter = HTMLExporter(
        **urls,
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"mpe_page.html.j2": PAGE_TEMPLATE})],
        template_file="mpe_page.html.j2",
    )
    exporter.register_filter("widget_snapshot", widget_snapshot)
    return exporter


def export(source, target, widget_renderer_url="", require_js_url=""):
    """Export source/*.ipynb to target/*.html and write target/index.html; returns the pages."""
    source, target = Path(source), Path(target)
    if not source.is_dir():
        raise ValueError(f"source must be a folder of notebooks; received {source}")
    paths = sorted(source.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"source must contain .ipynb files; {source} has none")
    # refuse a file or a read-only folder, or a page that cannot be replaced, before any work;
    # every file is then written through write_atomic (all or nothing, mode and owner kept)
    check_output_dir(target, what="target folder")
    for path in paths:
        check_output_file(target / f"{path.stem}.html", inputs=[path], what="page")
    check_output_file(target / "index.html", what="index")
    exporter = make_exporter(widget_renderer_url, require_js_url)
    pages = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        problem = widget_problems(notebook)
        if problem:
            print(f"warning: {path.name}: {problem}", file=sys.stderr)
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
    args = parser.parse_args(argv)
    try:
        export(args.source, args.target, args.widget_renderer_url, args.require_js_url)
    except ValueError as err:
        parser.error(str(err))


if __name__ == "__main__":
    main()
