"""pytest fixtures for a host project's own tests, shown by docs/providers.rst.

tests/test_docs.py copies this file and test_host_project.py into a temporary folder and runs
pytest there, so both work as shown.
"""
# docs: start
import dramatiq
import pytest

from django_kling.testing.sandbox import Sandbox

SANDBOX_KEY = "sandbox-key"


@pytest.fixture(scope="session")
def kling_sandbox():
    """The fake gateway, one for the whole session (a loopback HTTP server)."""
    with Sandbox(api_key=SANDBOX_KEY, render_scale=0.25) as sandbox:  # small, fast renders
        yield sandbox


@pytest.fixture
def kling(kling_sandbox, settings):
    """django-kling pointed at the sandbox for one test; yields the sandbox."""
    kling_sandbox.reset()  # forget earlier calls, bills and faults
    kling_sandbox.delay = 0.0  # seconds each generation takes
    settings.DJANGO_KLING = {
        **getattr(settings, "DJANGO_KLING", {}),
        "PROVIDERS": {"gateway": {"API_KEY": SANDBOX_KEY, "BASE_URL": kling_sandbox.v4_url}},
        "ALLOWED_DOWNLOAD_HOSTS": ["http://127.0.0.1:*"],  # the sandbox serves clips on loopback
        "POLL_INTERVAL": 0.2,
        "MAX_POLL_INTERVAL": 1.0,
    }
    yield kling_sandbox


@pytest.fixture
def kling_worker(transactional_db):
    """A Dramatiq worker in this process, on the test settings' broker."""
    from django_kling import tasks  # noqa: F401  (declares the actors)

    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    yield worker
    worker.stop()
    broker.flush_all()
