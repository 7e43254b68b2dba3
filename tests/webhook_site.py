"""The web process of ``test_webhook_process.py``: the tests' URLconf on Django's threaded WSGI
server (what ``runserver`` serves), in a process of its own.

With the in-memory broker, the queue lives in one process, so this one also runs a worker
(as the demo shop's web process does); with Redis, the test process's worker takes the jobs.

    python -m tests.webhook_site PORT
"""

from __future__ import annotations

import os
import sys


def main(port: int) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.web_settings"
    import django

    django.setup()
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application

    from django_kling.testing.worker import start_embedded_worker, uses_in_memory_broker

    if uses_in_memory_broker():
        start_embedded_worker(threads=2)
    run("127.0.0.1", port, get_wsgi_application(), threading=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
