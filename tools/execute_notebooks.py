"""Re-execute notebooks in place, top to bottom, so their committed outputs are a clean run.

    python tools/execute_notebooks.py notebooks/*.ipynb

Each notebook runs in a fresh kernel started in the notebook's own folder, with a fixed hash
seed; execution timestamps are not recorded, so a re-run changes only what the code changed.
Widget state is stored so the sliders' last figures render on the web. Prints each notebook's
run time.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path, timeout=600):
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.perf_counter()
    client.execute(env=dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="module://matplotlib_inline.backend_inline"))
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", help="the .ipynb files to re-execute in place")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    total = 0.0
    for nb in args.notebooks:
        if not nb.endswith(".ipynb") or not Path(nb).is_file():
            raise SystemExit(f"not a notebook file: {nb}")
        seconds = execute(nb, args.timeout)
        total += seconds
        print(f"{nb}: {seconds:.1f} s", flush=True)
    print(f"all {len(args.notebooks)} notebook(s): {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
