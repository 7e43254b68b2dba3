"""Prints the fault matrix at the end of the run and keeps a copy in test-output/."""

from pathlib import Path

from .harness import Row
from .test_matrix import ROWS


def render(rows: list[Row]) -> str:
    table = [Row.HEADER, *(row.cells() for row in rows)]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(Row.HEADER))]
    lines = [" | ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True))
             for line in table]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter):
    if not ROWS:
        return
    text = render(ROWS)
    terminalreporter.write_sep("=", "fault matrix")
    terminalreporter.write_line(text)
    out = Path(__file__).resolve().parents[2] / "test-output"
    out.mkdir(exist_ok=True)
    (out / "fault-matrix.txt").write_text(text + "\n")
