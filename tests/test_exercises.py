"""The notebooks' exercises: every check says ✓ to its solution and ✗ to its wrong answer.

For every notebook in notebooks/ with cells tagged `exercise` (tools/check_exercises.py does
the work; run it alone for a readable report while writing a notebook):
- structure: exercise and check cells alternate, one solution and one wrong answer per
  exercise under notebooks/solutions/, the notebook says how to load each, no solution's code
  is in the notebook, and as committed every check shows one line starting with ✗;
- runs: the notebook, cut after its last check, executed in a temporary copy of notebooks/
  with all its solutions substituted (every check prints one ✓ line) and with all its wrong
  answers (every check prints one ✗ line); no cell raises. Both runs of every notebook start
  together, two at a time.

The harness itself is tested on small notebooks made here: one whose checks pass and fail as
they should, and ones with a missing check, a leaked solution, a wrong answer that passes and a
check that raises, each of which must be reported.
"""
import itertools
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT / "tools"))
import check_exercises as cx  # noqa: E402

EXERCISE_NOTEBOOKS = cx.exercise_notebooks(NOTEBOOKS)
IDS = [p.stem for p in EXERCISE_NOTEBOOKS]


@pytest.fixture(scope="module")
def runs():
    """Every (notebook, mode) run, started together on first use, two at a time."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=2)
    futures = {(p, m): pool.submit(cx.run, p, m) for p in EXERCISE_NOTEBOOKS for m in cx.MODES}
    try:
        yield futures
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("path", EXERCISE_NOTEBOOKS, ids=IDS)
def test_exercise_structure(path):
    problems = cx.structure_problems(path)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(cx.MODES))
@pytest.mark.parametrize("path", EXERCISE_NOTEBOOKS, ids=IDS)
def test_every_check_with_the_answers(runs, path, mode):
    result = runs[(path, mode)].result()
    problems = cx.run_problems(result)
    assert not problems, "\n".join(problems)
    assert len(result.checks) == len(cx.tagged_cells(cx._read(path)["cells"])[1]) >= 1


# ----------------------------------------------------------------------------- the harness itself
_IDS = itertools.count()


def _cell(kind, source, tags=()):
    cell = {"cell_type": kind, "id": f"c{next(_IDS)}",
            "metadata": {"tags": list(tags)} if tags else {}, "source": source}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _stdout(text):
    return [{"output_type": "stream", "name": "stdout", "text": text}]


CHECK = ("from mpe_teach.exercises import check, close\n"
         "check({label!r}, {answer}, lambda a: close(a, {truth}), hint='see above');")


def synthetic(folder, name="98_synthetic.ipynb", n_checks=2, load_text="", leak="",
              solutions=None, wrong=None, check2_extra=""):
    """A small notebook with two exercises (the second predict-then-reveal) and its files.

    Exercise 1: the sum of squares of `data` (truth: a closed form, n(n+1)(2n+1)/6).
    Exercise 2: a guess of the largest entry's index, then a reveal cell and the check."""
    folder = Path(folder)
    (folder / "solutions" / "wrong").mkdir(parents=True, exist_ok=True)
    pre = name[:2]
    solutions = solutions or {1: "answer_1 = sum(x * x for x in data)\n",
                              2: "guess_2 = int(np.argmax(data))\n"}
    wrong = wrong or {1: "answer_1 = sum(data) ** 2  # squares the sum\n",
                      2: "guess_2 = int(np.argmin(data))\n"}
    for k in (1, 2):
        (folder / "solutions" / f"{pre}_ex{k}.py").write_text(solutions[k])
        (folder / "solutions" / "wrong" / f"{pre}_ex{k}.py").write_text(wrong[k])
    loads = load_text or (f"Stuck? `%load solutions/{pre}_ex1.py` loads the solution of "
                          "exercise 1 into the cell.")
    cells = [
        _cell("markdown", f"# Synthetic\n\n{loads}\n\n{leak}"),
        _cell("code", "import numpy as np\nfrom pathlib import Path\ndata = np.arange(1, 11)\n"
                      "assert Path('solutions/98_ex1.py').is_file()  # cwd: the notebook's folder\n"
                      "Path('written_by_the_run.txt').write_text('x')"),
        _cell("code", "answer_1 = None  # your code: the sum of the squares of data",
              ["exercise"]),
        _cell("code", CHECK.format(label="Exercise 1", answer="answer_1",
                                   truth="10 * 11 * 21 / 6"), ["check", "nbval-check-output"]),
        _cell("code", "guess_2 = None  # your guess: the index of the largest entry",
              ["exercise"]),
        _cell("code", "revealed = int(np.flatnonzero(data == data.max())[0])"),
    ]
    if n_checks >= 2:
        cells.append(_cell("code", check2_extra + CHECK.format(
            label="Exercise 2", answer="guess_2", truth="revealed"),
            ["check", "nbval-check-output"]))
    cells.append(_cell("code", "raise RuntimeError('after the last check: never run')"))
    for cell in cells:  # as committed: every check says "not answered yet"
        if "check" in cell["metadata"].get("tags", []):
            label = "Exercise 1" if "Exercise 1" in cell["source"] else "Exercise 2"
            cell["outputs"] = _stdout(f"✗ {label}: not answered yet. Hint: see above\n")
    notebook = {"cells": cells, "metadata": {"kernelspec": {"name": "python3",
                                                            "display_name": "Python 3",
                                                            "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    path = folder / name
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False))
    return path


def test_harness_finds_only_notebooks_with_exercises(tmp_path):
    path = synthetic(tmp_path)
    (tmp_path / "97_plain.ipynb").write_text(json.dumps(
        {"cells": [_cell("code", "x = 1")], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert cx.exercise_notebooks(tmp_path) == [path]


def test_harness_passes_a_correct_notebook_and_runs_its_answers(tmp_path):
    path = synthetic(tmp_path)
    assert cx.structure_problems(path) == []
    results = cx.run_all([(path, "solution"), (path, "wrong")], workers=2)
    right, wrong = results[(path, "solution")], results[(path, "wrong")]
    assert [lines for _, _, lines, _ in right.checks] == [
        ["✓ Exercise 1: correct."], ["✓ Exercise 2: correct."]]
    assert [lines[0][:12] for _, _, lines, _ in wrong.checks] == [
        "✗ Exercise 1", "✗ Exercise 2"]
    assert cx.run_problems(right) == [] and cx.run_problems(wrong) == []
    assert right.errors == [] and wrong.errors == []  # the cell after the last check never ran
    assert not (tmp_path / "written_by_the_run.txt").exists()  # ran in a copy of the folder


def test_harness_reports_structure_problems(tmp_path):
    mismatch = synthetic(tmp_path / "a", n_checks=1)
    problems = cx.structure_problems(mismatch)
    assert any("2 exercise cell(s) but 1 check cell(s)" in p for p in problems), problems
    assert cx.run_problems(cx.run(mismatch, "solution"))[0].endswith(
        "cannot run: 2 exercise cell(s) but 1 check cell(s)")

    no_load = synthetic(tmp_path / "b", load_text="Solutions: `%load solutions/97_ex1.py`.")
    (tmp_path / "b" / "solutions" / "wrong" / "98_ex2.py").unlink()
    (tmp_path / "b" / "solutions" / "98_ex3.py").write_text("answer_3 = 3\n")
    problems = "\n".join(cx.structure_problems(no_load))
    assert ("never tells the learner how to load a solution ('%load solutions/98_ex1.py')"
            in problems)
    assert "says '%load solutions/97_ex1.py' but there is no such file" in problems
    assert "exercise 2 has no solutions/wrong/98_ex2.py" in problems
    assert "solutions/98_ex3.py has no exercise" in problems

    generic = synthetic(tmp_path / "e", load_text="`%load solutions/98_exK.py` loads exercise K.")
    assert cx.structure_problems(generic) == []

    leaked = synthetic(tmp_path / "c", leak="For instance `answer_1 = sum(x * x for x in data)`.")
    problems = cx.structure_problems(leaked)
    assert problems == ["98_synthetic.ipynb: the code of solutions/98_ex1.py appears in cell 0: "
                        "'answer_1 = sum(x * x for x in data)'"]

    answered = synthetic(tmp_path / "d")
    notebook = json.loads(answered.read_text())
    notebook["cells"][3]["outputs"] = _stdout("✓ Exercise 1: correct.\n")
    notebook["cells"][6]["outputs"].append({"output_type": "execute_result", "metadata": {},
                                            "execution_count": 3, "data": {"text/plain": "False"}})
    answered.write_text(json.dumps(notebook))
    problems = cx.structure_problems(answered)
    assert len(problems) == 2
    assert "as committed, check 1 (cell 3): it showed '✓ Exercise 1: correct.'" in problems[0]
    assert "check 2 (cell 6)" in problems[1] and "end it with ';'" in problems[1]


def test_harness_reports_a_wrong_answer_that_passes_and_a_check_that_raises(tmp_path):
    path = synthetic(tmp_path, wrong={1: "answer_1 = 385\n", 2: "guess_2 = 'nine'\n"},
                     check2_extra="position = 1 / (guess_2 - 9)\n")
    result = cx.run(path, "wrong")
    problems = cx.run_problems(result)
    assert problems[0].startswith("98_synthetic.ipynb with the wrong answers: check 2 raised "
                                  "TypeError")
    assert problems[1] == ("98_synthetic.ipynb, exercise 1 with solutions/wrong/98_ex1.py: check "
                           "cell 3: it showed '✓ Exercise 1: correct.'; expected one line "
                           "starting with ✗")
    assert problems[2].startswith("98_synthetic.ipynb, exercise 2 with solutions/wrong/98_ex2.py: "
                                  "check cell 6: it showed an error, TypeError")
    assert len(problems) == 3


@pytest.mark.parametrize("code, text, leaks", [
    ("answer = v * e / (1 - lam * v)\n", "x = 1\nanswer = v * e / (1 - lam * v)  # done", True),
    ("answer = v * e / (1 - lam * v)\n", "answer = -v * e", False),
    ("import numpy as np\nv = sens.variances_\nanswer = v * e\n", "v = sens.variances_", False),
    ("import numpy as np\nv = sens.variances_\nanswer = v * e\n",
     "v = sens.variances_\n...\nanswer   =   v * e", True),
    ("# only a comment\n", "# only a comment", False),
    ("answer_2 = 25  # a guess\n", "write `answer_2 = 15` or `answer_2 = 25`", False),
    ("answer_2 = -0.5\n", "answer_2 = -0.5", False),
    ("answer_2 = int(np.argmax(s))\n", "answer_2 = int(np.argmax(s))", True),
])
def test_leak_rule(code, text, leaks):
    assert bool(cx.leaked_lines(code, text)) == leaks
