"""The version matrix: the stacks our users install, tested on every CI run.

``nox -l`` lists the sessions; ``nox -s newest`` runs one. Sessions inherit the environment, so
``DATABASE_URL`` and ``REDIS_URL`` (PostgreSQL and Redis, as ``.ci/run`` sets them) reach the
tests; ``.ci/run`` runs ``oldest`` without them (SQLite and the in-memory broker, the README's
``make test`` on a laptop). Interpreters are found on ``PATH``; on a machine with pyenv, its
installed versions are added to ``PATH`` so that ``python3.10`` ... ``python3.13`` resolve
without activating them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).parent
OLDEST = ROOT / "ci" / "constraints-oldest.txt"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
# The unit, pipeline and site tests; what only the newest stack must also run (the fault
# matrix with its worker processes, the real browser, the manual's build) is left to it and to
# `make test`.
CORE = ["-m", "not faults", "--ignore=tests/browser", "--ignore=tests/faults",
        "--deselect=tests/test_docs.py::test_the_manual_builds_without_warnings"]

# Django 6.0 runs the tests of what Django's version can change (admin, forms, templates,
# commands, checks, settings, the ORM's queries, the pipeline and its money); these test what it
# cannot: media work (Pillow, PyAV, numpy, C2PA), the providers' wire formats and the sandbox's,
# plans computed in Python, and the repository's own files. The newest and oldest stacks, which
# bound those libraries' versions, run them; leaving them out keeps CI under 30 minutes.
NOT_DJANGO = [f"--ignore=tests/{name}.py" for name in (
    "test_images", "test_media", "test_render", "test_captions", "test_renditions",
    "test_content_credentials", "test_download", "test_sandbox", "test_sandbox_pace",
    "test_sandbox_fixture", "test_gateway", "test_gateway_formats", "test_inline_answers",
    "test_kling", "test_fal", "test_replicate", "test_poll_plan", "test_clip_plan",
    "test_architecture", "test_docs", "test_suite_rules", "test_feature_table",
    "test_first_hour", "test_live")]

# What a session tested, printed before its tests (uv's environments have no pip to ask).
VERSIONS = ("import sys, importlib.metadata as m; print(sys.version.split()[0], *(f'{n}=='"
            "f'{m.version(n)}' for n in ('django', 'av', 'pillow', 'dramatiq', 'django-dramatiq',"
            " 'httpx', 'django-storages', 'c2pa-python')))")

# The Wagtail integration's tests, in their own settings; the browser test is left to the
# newest stack (`make test` runs it).
WAGTAIL_TESTS = ["tests/wagtail", "--ds=tests.wagtail.settings"]
WAGTAIL_VERSIONS = VERSIONS.replace("'httpx',", "'httpx', 'wagtail',")

nox.options.sessions = ["newest", "oldest", "django60", "rabbitmq", "package", "wagtail_oldest"]
nox.options.reuse_existing_virtualenvs = True
# uv (a dev dependency) creates and fills the session environments several times faster than
# virtualenv + pip; without it nox falls back to virtualenv.
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True


def _pyenv_on_path() -> None:
    pyenv = shutil.which("pyenv")
    if not pyenv:
        return
    root = Path(subprocess.run([pyenv, "root"], capture_output=True, text=True,
                               check=False).stdout.strip() or "~/.pyenv").expanduser()
    bins = sorted(str(path) for path in root.glob("versions/3.*/bin"))
    os.environ["PATH"] = os.pathsep.join([*bins, os.environ.get("PATH", "")])


_pyenv_on_path()
# Interpreters come from this machine only (never a download from outside the registries).
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


@nox.session(python="3.13")
def newest(session: nox.Session) -> None:
    """Python 3.13 with the newest release of every dependency: the whole suite."""
    # uv's --upgrade upgrades every package; pip needs to be told to be eager.
    eager = [] if session.venv_backend == "uv" else ["--upgrade-strategy", "eager"]
    session.install("--upgrade", *eager, "-e", ".[dev]")
    session.run("python", "-c", VERSIONS, silent=False)
    session.run("python", "-m", "pytest", *session.posargs,
                env={"KLING_EXPECT_STACK": "newest"})


@nox.session(python="3.10")
def oldest(session: nox.Session) -> None:
    """Python 3.10 with the lower bound of every dependency (ci/constraints-oldest.txt)."""
    session.install("-e", ".[dev]", "-c", str(OLDEST))
    session.run("python", "-c", VERSIONS, silent=False)
    session.run("python", "-m", "pytest", *CORE, *session.posargs,
                env={"KLING_EXPECT_STACK": "oldest"})


@nox.session(python="3.12")
def django60(session: nox.Session) -> None:
    """Django 6.0 (the release before the newest), other dependencies current: the tests of
    what Django's version can change (``NOT_DJANGO`` lists the rest)."""
    session.install("-e", ".[dev]", "Django~=6.0.0")
    session.run("python", "-c", VERSIONS, silent=False)
    session.run("python", "-m", "pytest", *CORE, *NOT_DJANGO, *session.posargs,
                env={"KLING_EXPECT_STACK": "django60"})


@nox.session(python="3.13")
def wagtail_newest(session: nox.Session) -> None:
    """Wagtail 8.x, the newest release, on Python 3.13 (what `make test` runs in CI)."""
    eager = [] if session.venv_backend == "uv" else ["--upgrade-strategy", "eager"]
    session.install("--upgrade", *eager, "-e", ".[dev]")
    session.run("python", "-c", WAGTAIL_VERSIONS, silent=False)
    session.run("python", "-m", "pytest", *WAGTAIL_TESTS, *session.posargs)


@nox.session(python="3.10")
def wagtail_oldest(session: nox.Session) -> None:
    """Wagtail 7.4 LTS, the oldest Wagtail supported, on the oldest stack (Python 3.10).

    (7.0 LTS left Wagtail's support in November 2026.)"""
    session.install("-e", ".[dev]", "wagtail~=7.4.0", "-c", str(OLDEST))
    session.run("python", "-c", WAGTAIL_VERSIONS, silent=False)
    session.run("python", "-m", "pytest", *WAGTAIL_TESTS,
                "--ignore=tests/wagtail/test_browser.py", *session.posargs)


@nox.session(python="3.13")
def rabbitmq(session: nox.Session) -> None:
    """The queue integration tests (real workers, delays, retries) on RabbitMQ."""
    session.install("-e", ".[dev]")
    url = os.environ.get("RABBITMQ_URL", RABBITMQ_URL)
    session.run("python", "-m", "pytest", "tests/test_pipeline.py", "tests/test_webhooks.py",
                *session.posargs, env={"RABBITMQ_URL": url})


@nox.session(python="3.13")
def package(session: nox.Session) -> None:
    """Build the sdist and wheel, check their metadata and contents."""
    session.install("build", "twine")
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    session.run("python", "-m", "twine", "check", "--strict", *map(str, dist.iterdir()))
    session.run("python", str(ROOT / "ci" / "check_dist.py"), str(dist))
