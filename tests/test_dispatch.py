"""Sending a step's message from a process that never imported ``django_kling.tasks`` (a web
process, the fault matrix's test process): the actors are declared on first use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys, uuid
import django
django.setup()
import dramatiq
from django_kling.flow import dispatch
assert "django_kling.tasks" not in sys.modules
dispatch.send("fetch", uuid.uuid4())
broker = dramatiq.get_broker()
print(sum(len(q.queue) for q in broker.queues.values()))
"""


def test_a_message_is_sent_before_the_actors_were_imported():
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "RABBITMQ_URL") and not k.startswith("PYTEST")}
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "1"
