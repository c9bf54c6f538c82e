"""Check the notebooks' exercises: their structure, and every check with the solutions and the
wrong answers substituted.

    python tools/check_exercises.py                      # every notebook with exercises
    python tools/check_exercises.py notebooks/04_logistic_regression.ipynb

A notebook's exercise cells carry the cell tag ``exercise``; the check cell of each carries
``check`` and ``nbval-check-output`` and follows it (a reveal cell may sit in between). For each
notebook NN_name.ipynb with exercises this checks:

- structure: exercise 1, check 1, exercise 2, check 2, ... in that order; for each K the files
  solutions/NN_exK.py and solutions/wrong/NN_exK.py exist (and no file for an exercise that is
  not there); the notebook tells the learner ``%load solutions/NN_exK.py``; no solution's code
  appears in the notebook; as committed every check cell shows one line starting with ✗;
- runs: the notebook, cut after its last check cell, is executed in a temporary copy of its
  folder (so ``solutions/...`` and relative paths work) twice: once with every exercise cell's
  source replaced by its solution (each check must print one line starting with ✓) and once
  with the wrong answers (each must print one line starting with ✗). No cell may raise.

The two runs of one notebook take about as long as the notebook up to its last check, each;
``--workers`` runs that many at a time (default 2).
"""
import argparse
import ast
import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

EXERCISE_TAG = "exercise"
CHECK_TAGS = ("check", "nbval-check-output")
RIGHT, WRONG = "✓", "✗"
MODES = {"solution": ("solutions", RIGHT), "wrong": ("solutions/wrong", WRONG)}
CELL_TIMEOUT = 300  # s for one cell; a notebook should run in well under a minute
# figures as in JupyterLab, nbval and tools/execute_notebooks.py (Agg saved no time: measured)
INLINE = "module://matplotlib_inline.backend_inline"


# ----------------------------------------------------------------------------- notebook reading
def _read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


def prefix(path):
    """'04' for notebooks/04_logistic_regression.ipynb (the two digits solutions are named by)."""
    match = re.match(r"(\d\d)_", Path(path).name)
    return match.group(1) if match else None


def solution_file(path, k, mode="solution"):
    """solutions/NN_exK.py (or solutions/wrong/NN_exK.py) beside the notebook."""
    return Path(path).parent / MODES[mode][0] / f"{prefix(path)}_ex{k}.py"


def exercise_notebooks(folder):
    """The notebooks in `folder` with at least one cell tagged `exercise`, in file-name order."""
    return [p for p in sorted(Path(folder).glob("*.ipynb"))
            if any(EXERCISE_TAG in _tags(c) for c in _read(p).get("cells", []))]


def tagged_cells(cells):
    """(exercise cell indices, check cell indices), each in notebook order."""
    exercises = [i for i, c in enumerate(cells) if EXERCISE_TAG in _tags(c)]
    checks = [i for i, c in enumerate(cells) if CHECK_TAGS[0] in _tags(c)]
    return exercises, checks


def output_text(output):
    """The text a reader sees of one saved output (streams, plain text, HTML, markdown)."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        return "".join(text) if isinstance(text, list) else text
    if output.get("output_type") == "error":
        return f"{output.get('ename', '')}: {output.get('evalue', '')}"
    data = output.get("data", {})
    parts = [data[k] for k in ("text/plain", "text/markdown", "text/html", "text/latex")
             if k in data]
    return "\n".join("".join(p) if isinstance(p, list) else p for p in parts)


def printed_lines(outputs):
    """(the lines a cell printed on stdout, a description of every other output)."""
    stdout, others = [], []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream" and output.get("name") == "stdout":
            stdout.append(output_text(output))
        elif kind == "stream":
            others.append(f"{output.get('name')}: {output_text(output).strip()[:300]!r}")
        elif kind == "error":
            others.append(f"an error, {output_text(output)[:300]}")
        else:
            others.append(f"{kind}: {output_text(output).strip()[:120]!r}")
    return "".join(stdout).splitlines(), others


def _one_line(lines, others, symbol):
    """'' when a check showed exactly one line starting with `symbol`, else what is wrong."""
    if len(lines) == 1 and lines[0].startswith(symbol) and not others:
        return ""
    shown = "; ".join([repr(line) for line in lines] + others) or "nothing"
    extra = ""
    if any(o.startswith("execute_result") for o in others):
        extra = " (the cell's last line shows check()'s return value: end it with ';')"
    return f"it showed {shown}; expected one line starting with {symbol}{extra}"


# ----------------------------------------------------------------------------- solution leaks
_IMPORT = re.compile(r"^(import\s|from\s+\S+\s+import\s)")


def _normal(line):
    """A line with its trailing comment dropped and its white space collapsed."""
    line = re.sub(r"\s+#.*$", "", line)
    return " ".join(line.split())


def _literal_assignment(line):
    """True for `name = <a literal>` (a guess such as `answer_2 = 25` or `= "less"`): the
    exercise's own text names the choices, so such a line gives nothing away."""
    try:
        tree = ast.parse(line)
    except SyntaxError:
        return False
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign):
        return False
    try:
        ast.literal_eval(tree.body[0].value)
    except ValueError:
        return False
    return True


def substantive_lines(code):
    """The lines of a solution that give it away: not blank, not a comment, not an import,
    not only brackets and punctuation, not a literal guess."""
    lines = []
    for raw in code.splitlines():
        line = _normal(raw)
        if not line or line.startswith("#") or line.startswith("%") or _IMPORT.match(line):
            continue
        if not re.search(r"[A-Za-z0-9]", line) or _literal_assignment(line):
            continue
        lines.append(line)
    return lines


def leaked_lines(code, text):
    """The solution lines found in `text` when they give the solution away, else [].

    A solution of one or two substantive lines leaks when all of them appear; a longer one
    when at least half do (so a setup line the notebook also has is no leak on its own)."""
    lines = substantive_lines(code)
    if not lines:
        return []
    haystack = "\n".join(_normal(line) for line in text.splitlines())
    found = [line for line in dict.fromkeys(lines) if line in haystack]
    needed = max(min(len(lines), 2), (len(lines) + 1) // 2)
    return found if len(found) >= needed else []


def cell_texts(cells):
    """(index, what a reader sees of the cell: its source and its outputs' text) per cell."""
    return [(i, "\n".join([_source(c)] + [output_text(o) for o in c.get("outputs", [])]))
            for i, c in enumerate(cells)]


def solution_leaks(path, cells=None):
    """Messages for every solutions/NN_exK.py whose code appears in a cell of the notebook."""
    path = Path(path)
    cells = _read(path)["cells"] if cells is None else cells
    problems = []
    if prefix(path) is None:
        return problems
    for solution in sorted((path.parent / "solutions").glob(f"{prefix(path)}_ex*.py")):
        code = solution.read_text(encoding="utf-8")
        for index, text in cell_texts(cells):
            found = leaked_lines(code, text)
            if found:
                problems.append(f"{path.name}: the code of solutions/{solution.name} appears in "
                                f"cell {index}: {found[0]!r}")
    return problems


# ----------------------------------------------------------------------------- structure
def structure_problems(path):
    """Everything wrong with a notebook's exercises that needs no kernel ([] if nothing)."""
    path = Path(path)
    name = path.name
    cells = _read(path)["cells"]
    exercises, checks = tagged_cells(cells)
    problems = []
    if prefix(path) is None:
        return [f"{name}: the name has no two-digit prefix (NN_...) to name its solutions by"]
    if len(exercises) != len(checks):
        problems.append(f"{name}: {len(exercises)} exercise cell(s) but {len(checks)} check "
                        f"cell(s) (cells tagged {EXERCISE_TAG!r}: {exercises}; {CHECK_TAGS[0]!r}: "
                        f"{checks})")
    else:
        order = sorted([(i, "exercise") for i in exercises] + [(i, "check") for i in checks])
        expected = ["exercise", "check"] * len(exercises)
        if [kind for _, kind in order] != expected:
            problems.append(f"{name}: exercise and check cells do not alternate (exercise 1, "
                            f"check 1, exercise 2, ...): {order}")
    for i in checks:
        missing = set(CHECK_TAGS) - _tags(cells[i])
        if missing:
            problems.append(f"{name}: check cell {i} lacks the tag(s) {sorted(missing)}")
    for k in range(1, len(exercises) + 1):
        for mode in MODES:
            file = solution_file(path, k, mode)
            if not file.is_file():
                problems.append(f"{name}: exercise {k} has no {file.relative_to(path.parent)}")
    # the text says how to load a solution, with this notebook's own files
    loads = [m for c in cells for m in re.findall(r"%load\s+(\S+\.py)", _source(c))]
    if exercises and not any(re.fullmatch(rf"solutions/{prefix(path)}_ex(\d+|K)\.py", m)
                             for m in loads):
        problems.append(f"{name}: the notebook never tells the learner how to load a solution "
                        f"('%load solutions/{prefix(path)}_ex1.py')")
    for load in dict.fromkeys(loads):  # "%load solutions/NN_exK.py" names them all
        if not load.endswith("_exK.py") and not (path.parent / load).is_file():
            problems.append(f"{name}: the notebook says '%load {load}' but there is no such file")
    for mode in MODES:
        for file in sorted((path.parent / MODES[mode][0]).glob(f"{prefix(path)}_ex*.py")):
            k = re.fullmatch(rf"{prefix(path)}_ex(\d+)\.py", file.name)
            if not k or not 1 <= int(k.group(1)) <= len(exercises):
                problems.append(f"{name}: {file.relative_to(path.parent)} has no exercise "
                                f"(the notebook has {len(exercises)})")
    problems += solution_leaks(path, cells)
    for k, i in enumerate(checks, start=1):  # as committed: unanswered, so every check says ✗
        lines, others = printed_lines(cells[i].get("outputs", []))
        wrong = _one_line(lines, others, WRONG)
        if wrong:
            problems.append(f"{name}: as committed, check {k} (cell {i}): {wrong} "
                            f"(re-execute the notebook with tools/execute_notebooks.py)")
    return problems


# ----------------------------------------------------------------------------- runs
@dataclasses.dataclass
class Run:
    """What one execution of a notebook with its answers substituted showed."""
    notebook: str
    mode: str                        # "solution" or "wrong"
    checks: list                     # per exercise K: (K, cell index, stdout lines, others)
    errors: list                     # one message per cell that raised
    seconds: float = 0.0
    problem: str = ""                # why the notebook could not be run at all


def substituted(path, mode):
    """The notebook's cells cut after the last check, every exercise cell's source replaced by
    its solution (mode "solution") or wrong answer ("wrong"); with the check cell indices."""
    cells = _read(path)["cells"]
    exercises, checks = tagged_cells(cells)
    if not checks or len(exercises) != len(checks):
        raise ValueError(f"{len(exercises)} exercise cell(s) but {len(checks)} check cell(s)")
    notebook = _read(path)
    notebook["cells"] = cells[: checks[-1] + 1]
    for k, i in enumerate(exercises, start=1):
        file = solution_file(path, k, mode)
        if not file.is_file():
            raise ValueError(f"{file.relative_to(Path(path).parent)} is missing")
        notebook["cells"][i]["source"] = file.read_text(encoding="utf-8")
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return notebook, exercises, checks


def _roles(exercises, checks):
    roles = {i: f"exercise {k}" for k, i in enumerate(exercises, start=1)}
    roles.update({i: f"check {k}" for k, i in enumerate(checks, start=1)})
    return roles


def run(path, mode, timeout=CELL_TIMEOUT, backend=INLINE):
    """Execute the notebook with every answer of `mode` substituted; a Run."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path = Path(path).resolve()
    try:
        notebook, exercises, checks = substituted(path, mode)
    except ValueError as err:
        return Run(path.name, mode, [], [], problem=f"cannot run: {err}")
    nb = nbformat.reads(json.dumps(notebook), as_version=4)
    start = time.perf_counter()
    problem = ""
    with tempfile.TemporaryDirectory(prefix="mpe-exercises-") as tmp:
        # a copy of the notebook's folder (data, solutions/), so that nothing there changes
        folder = Path(tmp) / path.parent.name
        shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns(
            "*.ipynb", ".ipynb_checkpoints", "__pycache__"))
        nbformat.write(nb, folder / path.name)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                record_timing=False,
                                resources={"metadata": {"path": str(folder)}})
        env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND=backend)
        try:
            client.execute(env=env)
        except (CellTimeoutError, DeadKernelError, RuntimeError) as err:
            problem = f"execution stopped: {type(err).__name__}: {str(err).strip()[:300]}"
    seconds = time.perf_counter() - start
    roles = _roles(exercises, checks)
    errors = []
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(f"{roles.get(i, f'cell {i}')} raised {output.get('ename')}: "
                              f"{str(output.get('evalue'))[:300]}")
    results = []
    for k, i in enumerate(checks, start=1):
        lines, others = printed_lines(nb.cells[i].get("outputs", []))
        results.append((k, i, lines, others))
    return Run(path.name, mode, results, errors, seconds, problem)


def run_problems(result):
    """Messages for everything a Run shows wrong ([] when every check printed as expected)."""
    if result.problem:
        return [f"{result.notebook} with the {result.mode} answers: {result.problem}"]
    folder, symbol = MODES[result.mode]
    pre = prefix(result.notebook)
    problems = [f"{result.notebook} with the {result.mode} answers: {e}" for e in result.errors]
    for k, i, lines, others in result.checks:
        wrong = _one_line(lines, others, symbol)
        if wrong:
            problems.append(f"{result.notebook}, exercise {k} with {folder}/{pre}_ex{k}.py: "
                            f"check cell {i}: {wrong}")
    return problems


def run_all(jobs, workers=2):
    """Run every (path, mode) of `jobs`, `workers` at a time; {(path, mode): Run}."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {job: pool.submit(run, *job) for job in jobs}
        return {job: future.result() for job, future in futures.items()}


# ----------------------------------------------------------------------------- command line
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*",
                        help="notebooks to check (default: every notebook in notebooks/ that "
                             "has exercises)")
    parser.add_argument("--workers", type=int, default=2, help="notebook runs at a time")
    parser.add_argument("--structure-only", action="store_true", help="no kernel runs")
    args = parser.parse_args(argv)
    paths = ([Path(p) for p in args.notebooks] if args.notebooks
             else exercise_notebooks(Path(__file__).resolve().parents[1] / "notebooks"))
    if not paths:
        print("no notebook with exercise cells")
        return 0
    problems = []
    for path in paths:
        found = structure_problems(path)
        problems += found
        print(f"{path.name}: structure {'OK' if not found else f'{len(found)} problem(s)'}")
    if not args.structure_only:
        results = run_all([(p, m) for p in paths for m in MODES], workers=args.workers)
        for (path, mode), result in results.items():
            found = run_problems(result)
            problems += found
            print(f"{path.name} with the {mode} answers: {result.seconds:.1f} s, "
                  f"{'OK' if not found else f'{len(found)} problem(s)'}")
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
