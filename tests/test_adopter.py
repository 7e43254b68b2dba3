"""The adopter's path: a fresh ``startproject`` plus the README's snippet, as a user would.

Runs ``django-admin`` and ``manage.py`` in subprocesses, in a folder of their own, with no API
key in the environment: a build without secrets must migrate, collect static files and check
its migrations; ``check --deploy`` is where the missing key is reported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLE = ROOT / "docs" / "examples" / "settings.py"
EXAMPLE_URLS = ROOT / "docs" / "examples" / "urls.py"


def readme_settings(index: int = 0) -> str:
    """A Python block of the README's "Install in your project" section: the settings (0),
    the URLconf lines (1)."""
    section = README.read_text(encoding="utf-8").split("## Install in your project", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, re.S)[index]


def example_part(marker: str, example: Path = EXAMPLE) -> str:
    text = example.read_text(encoding="utf-8")
    return text.split(f"# {marker}: start\n", 1)[1].split(f"# {marker}: end", 1)[0]


def test_readme_and_manual_show_the_same_settings():
    assert readme_settings().strip() == example_part("docs").strip()
    assert readme_settings(1).strip() == example_part("docs", EXAMPLE_URLS).strip()
    assert readme_settings(2).strip() == example_part("sandbox").strip()
    assert "django.contrib.contenttypes" in readme_settings()
    assert "MEDIA_ROOT" in readme_settings() and "MEDIA_URL" in readme_settings()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("adopter")
    env = {k: v for k, v in os.environ.items()
           if k not in {"AI_GATEWAY_API_KEY", "DJANGO_SETTINGS_MODULE", "DATABASE_URL",
                        "REDIS_URL", "PYTHONPATH", "VERCEL_OIDC_TOKEN"}}
    run([sys.executable, "-m", "django", "startproject", "myshop", str(folder)], folder, env)
    settings = folder / "myshop" / "settings.py"
    settings.write_text(
        settings.read_text(encoding="utf-8")
        + "\n# django-kling, pasted from the README\n" + readme_settings()
        + "\n# the quick start's S3 block, pasted as it stands\n" + example_part("s3")
        + '\nSTATIC_ROOT = BASE_DIR / "static"\n',
        encoding="utf-8")
    urls = folder / "myshop" / "urls.py"
    urls.write_text(urls.read_text(encoding="utf-8") + "\n" + readme_settings(1),
                    encoding="utf-8")
    return folder, env


def run(args: list[str], cwd: Path, env: dict[str, str],
        check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def manage(project: tuple[Path, dict[str, str]], *args: str,
           check: bool = True) -> subprocess.CompletedProcess:
    folder, env = project
    return run([sys.executable, "manage.py", *args], folder, env, check=check)


def test_a_build_without_secrets_works(project):
    assert "no issues" in manage(project, "check").stdout
    manage(project, "migrate", "--noinput")
    manage(project, "makemigrations", "--check", "--dry-run")
    manage(project, "collectstatic", "--noinput")
    assert (project[0] / "static" / "django_kling").is_dir()


def test_the_sandbox_block_pastes(project):
    """The "first clip with the sandbox" lines, below the rest, in a settings module of their
    own (the other tests keep the gateway without a key)."""
    folder, env = project
    (folder / "myshop" / "settings_sandbox.py").write_text(
        "from .settings import *  # noqa: F403\n\n" + example_part("sandbox"), encoding="utf-8")
    result = manage(project, "check", "--settings", "myshop.settings_sandbox")
    assert "no issues" in result.stdout
    result = manage(project, "shell", "--settings", "myshop.settings_sandbox", "-c",
                    "from django_kling.conf import kling_settings as k; "
                    "print(k.provider_options()['BASE_URL'], k.ALLOWED_DOWNLOAD_HOSTS)")
    assert "http://127.0.0.1:8765/v4/ai ['http://127.0.0.1:*']" in result.stdout


def test_check_deploy_names_the_missing_key(project):
    result = manage(project, "check", "--deploy", "--tag", "django_kling", check=False)
    assert result.returncode != 0
    assert "django_kling.E003" in result.stderr and "AI_GATEWAY_API_KEY" in result.stderr
    key = {**project[1], "AI_GATEWAY_API_KEY": "a-key-for-this-test"}
    result = run([sys.executable, "manage.py", "check", "--deploy", "--tag", "django_kling"],
                 project[0], key)
    assert "a-key-for-this-test" not in result.stdout + result.stderr
