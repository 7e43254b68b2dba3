"""Rules of the test suite itself, checked by running pytest on a small test file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_rule.py"
    test_file.write_text(source)
    # The project's own configuration (pyproject.toml), as `make test` runs it.
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
         str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(test_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_an_exception_in_a_test_thread_fails_the_test(tmp_path):
    """A helper thread that dies (say of "database is locked") must not leave a green test."""
    result = run_pytest(tmp_path, (
        "import threading\n\n"
        "def test_a_thread_dies():\n"
        "    thread = threading.Thread(target=lambda: 1 / 0)\n"
        "    thread.start()\n"
        "    thread.join()\n"))
    assert result.returncode == 1, result.stdout
    assert "ZeroDivisionError" in result.stdout
    assert "1 failed" in result.stdout
