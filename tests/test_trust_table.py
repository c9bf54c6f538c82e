"""The closing table of the course ("When to trust the MPE", notebook 8) points to the cells that
show each verdict: every number it quotes must be printed in the cell it names."""
import json
import re
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ROW = re.compile(r"^\|\s*\*\*(?P<verdict>[^*]+)\*\*\s*\|(?P<when>[^|]*)\|(?P<what>[^|]*)\|"
                 r"\s*notebook (?P<nb>\d), cell (?P<cell>\d+)\s*\|$")
NUMBER = re.compile(r"(?<![\w.])−?\d+\.\d+(?:e-?\d+)?|\b\de-\d+\b")


def _text(cell):
    parts = []
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


def test_every_row_points_to_a_cell_that_prints_its_numbers():
    nb = json.loads((NOTEBOOKS / "08_finding_mislabelled_examples.ipynb").read_text())
    table = next(c for c in nb["cells"] if "## When to trust the MPE" in "".join(c["source"]))
    rows = [ROW.match(line.strip()) for line in "".join(table["source"]).splitlines()]
    rows = [r for r in rows if r]
    assert len(rows) >= 10, "the table lost its rows"
    verdicts = {r["verdict"] for r in rows}
    assert {"exact", "good", "rough", "fails"} <= verdicts
    for r in rows:
        path = next(NOTEBOOKS.glob(f"0{r['nb']}_*.ipynb"))
        cells = json.loads(path.read_text())["cells"]
        cell = int(r["cell"])
        assert cell < len(cells), f"{path.name} has no cell {cell}"
        shown = _text(cells[cell]).replace("-", "−")
        numbers = NUMBER.findall(r["what"])
        assert numbers, f"row {r['when'].strip()!r} quotes no number"
        for number in numbers:
            assert number.replace("-", "−") in shown, \
                f"{path.name} cell {cell} does not print {number} (row: {r['when'].strip()})"
