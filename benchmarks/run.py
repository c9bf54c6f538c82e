"""Run the benchmark sections and write the table to build/benchmark.md.

    python benchmarks/run.py                 # every section, full sizes
    python benchmarks/run.py --quick         # tiny sizes: checks that everything runs
    python benchmarks/run.py --only core     # one section (repeatable: --only core --only training)

Each section is a module ``bench_<name>.py`` next to this file exposing ``run(quick=False)``, which
returns rows: dicts with keys section, quantity, measured (str), target (str) and met
(True / False / None when the row has no target). Sections whose module is absent are skipped.
"""
import argparse
import os
import importlib
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = ("core", "training", "widgets", "parallel")   # in the order they appear in the table
KEYS = ("section", "quantity", "measured", "target", "met")


def available_sections():
    """The section names whose bench_<name>.py exists."""
    return [name for name in SECTIONS if (HERE / f"bench_{name}.py").exists()]


def run_sections(names, quick=False):
    """Import each named section and collect its rows (checked for the expected keys)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    rows = []
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        t0 = time.perf_counter()
        section_rows = module.run(quick=quick)
        for r in section_rows:
            missing = [k for k in KEYS if k not in r]
            if missing:
                raise ValueError(f"bench_{name}.run returned a row without {missing}: {r}")
            if r["met"] not in (True, False, None):
                raise ValueError(f"bench_{name}.run: 'met' must be True, False or None; got {r['met']!r}")
        rows += section_rows
        print(f"[{name}] {len(section_rows)} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return rows


def markdown_table(rows):
    """The rows as a markdown table; a missed target reads **NO**."""
    mark = {True: "yes", False: "**NO**", None: "—"}
    cell = lambda s: str(s).replace("|", "\\|")
    lines = ["| section | quantity | measured | target | met |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {cell(r['section'])} | {cell(r['quantity'])} | {cell(r['measured'])} | "
                     f"{cell(r['target'])} | {mark[r['met']]} |")
    return "\n".join(lines)


def report(rows, quick):
    import numpy as np
    import scipy

    n_met = sum(r["met"] is True for r in rows)
    n_missed = sum(r["met"] is False for r in rows)
    header = [
        "# mpe_teach benchmark" + (" (quick: tiny sizes, numbers not meaningful)" if quick else ""),
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M')} · Python {platform.python_version()} · "
        f"numpy {np.__version__} · scipy {scipy.__version__} · {platform.machine()}, "
        f"{_cpu_count()} CPU(s), BLAS threads {_blas_threads()}. Times are medians of a few "
        "repeats; speed targets are ratios measured side by side in this run.",
        "",
        f"Targets met: {n_met}; missed: {n_missed}.",
        "",
    ]
    return "\n".join(header) + "\n" + markdown_table(rows) + "\n"


def _blas_threads():
    from threadpoolctl import threadpool_info

    counts = sorted({d["num_threads"] for d in threadpool_info() if d.get("user_api") == "blas"})
    return "/".join(map(str, counts)) or "?"


def _cpu_count():
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def main(argv=None):
    parser = argparse.ArgumentParser(description="mpe_teach speed and accuracy benchmark")
    parser.add_argument("--quick", action="store_true", help="tiny problem sizes (smoke test)")
    parser.add_argument("--only", action="append", metavar="SECTION",
                        help=f"run only this section (repeatable); one of {list(SECTIONS)}")
    parser.add_argument("--blas-threads", type=int, metavar="N",
                        help="limit BLAS to N threads while measuring (default: the library's own "
                             "setting); 1 gives steadier ratios on a busy machine")
    parser.add_argument("--output", default=str(ROOT / "build" / "benchmark.md"),
                        help="where to write the markdown table (default: build/benchmark.md)")
    args = parser.parse_args(argv)

    present = available_sections()
    names = present if args.only is None else args.only
    for name in names:
        if name not in SECTIONS:
            parser.error(f"--only: unknown section {name!r}; expected one of {list(SECTIONS)}")
        if name not in present:
            parser.error(f"--only: section {name!r} has no benchmarks/bench_{name}.py yet; "
                         f"available: {present}")

    if args.blas_threads is not None and args.blas_threads < 1:
        parser.error(f"--blas-threads must be an integer >= 1; got {args.blas_threads}")
    from threadpoolctl import threadpool_limits

    from mpe_teach.safeio import OutputError, check_output_dir, check_output_file, write_atomic
    parent = os.path.dirname(os.path.abspath(args.output))
    try:                                  # refuse a bad --output before minutes of measuring
        if os.path.isdir(parent):
            check_output_file(args.output, what="--output")
        else:                             # build/ on a fresh clone: made only when writing
            check_output_dir(parent, what="--output directory", create=False)
    except OutputError as exc:
        parser.error(str(exc))

    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        rows = run_sections(names, quick=args.quick)
        text = report(rows, args.quick)
    check_output_dir(parent, what="--output directory")
    write_atomic(args.output, lambda f: f.write(text), what="--output")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
