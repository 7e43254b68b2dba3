"""Running the example shop's manage.py as a user would, in a folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "example_project" / "manage.py"


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(MANAGE), *args], env=env, capture_output=True,
                          text=True, timeout=300)


def shop_environment(folder: Path, *, sandbox_delay: float) -> dict[str, str]:
    """Environment for a demo shop with its own SQLite file and media folder, set up."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE",
                        "DJANGO_KLING_GATEWAY_URL"}}
    env.update(DATABASE_URL=f"sqlite:///{folder / 'shop.sqlite3'}",
               DJANGO_MEDIA_ROOT=str(folder / "media"), KLING_SANDBOX_SCALE="0.25",
               KLING_SANDBOX_DELAY=str(sandbox_delay))
    for command in (("migrate", "--noinput"), ("demo_setup",)):
        result = manage(*command, env=env)
        assert result.returncode == 0, result.stderr
    return env
