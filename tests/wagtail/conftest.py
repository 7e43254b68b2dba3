"""The Wagtail integration's tests: run with ``--ds=tests.wagtail.settings``.

Each test module starts with ``pytest.importorskip("wagtail")``, so without Wagtail they are
skipped with the reason; ``tests/conftest.py`` leaves this folder out of runs with other
settings (its models and URLs would not exist there).
"""
