"""The demo's console on SQLite, as a first-time user sees it (issue 21, item 7 and the
RuntimeWarning minor): a generate round prints no traceback, and the start prints no warning
about database access in ``AppConfig.ready()``."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from .example_shop import MANAGE, manage, shop_environment


@pytest.fixture
def shop_env(tmp_path):
    return shop_environment(tmp_path, sandbox_delay=0.2)


def test_a_generate_round_on_the_demo_sqlite_prints_no_traceback(shop_env):
    # Four variants: four worker threads write the same SQLite file at once (before: "database
    # is locked" tracebacks from the submit step, recovered by retries).
    result = manage("kling_generate", "shop.Product:1:image", "--variants", "4", "--wait",
                    env=shop_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Succeeded:") == 4
    assert "Traceback" not in result.stderr and "database is locked" not in result.stderr
    # ...and the rest of the round: a reviewer approves one take, which the demo publishes.
    first = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                      result.stdout).group(0)
    review = manage("kling_review", first, "--approve", env=shop_env)
    assert review.returncode == 0, review.stderr
    assert "approved" in review.stdout.lower(), review.stdout
    assert "Traceback" not in review.stderr and "database is locked" not in review.stderr


def test_the_demo_starts_without_a_warning(shop_env):
    server = subprocess.Popen(
        [sys.executable, str(MANAGE), "runserver", "--noreload", "127.0.0.1:0"], env=shop_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            lines.append(line)
            if "Quit the server" in line or not line:
                break
        time.sleep(2)  # the worker and the start-up sync run now
    finally:
        server.terminate()
        rest, _ = server.communicate(timeout=30)
    console = "".join(lines) + rest
    assert "Quit the server" in console, console
    assert "RuntimeWarning" not in console and "Traceback" not in console, console


PRODUCT_LIST = """
from django.test import Client
client = Client()
assert client.login(username="admin", password="admin")
print(client.get("/admin/shop/product/", HTTP_HOST="127.0.0.1").content.decode())
"""


def test_the_demo_product_list_shows_pictures_and_videos(shop_env):
    # Issue 21: the list had only names.
    result = manage("shell", "-c", PRODUCT_LIST, env=shop_env)
    assert result.returncode == 0, result.stderr
    html = result.stdout
    assert 'class="column-picture"' in html and 'class="column-video"' in html
    assert html.count('<img class="kling-thumb') >= 2
