"""The manual (docs/) against the code: nothing undocumented, and its examples really run.

These tests read the ``.rst`` sources and run the example files under ``docs/examples/``; none
of them needs Sphinx, except ``test_the_manual_builds_without_warnings``, which is skipped when
Sphinx is not installed (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.admin import AdminSite
from django.core.files.base import ContentFile
from django.utils.module_loading import import_string

from django_kling import conf
from django_kling.checks import check_deploy, check_settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"

sys.path.insert(0, str(DOCS / "_ext"))
import kling_codes  # noqa: E402  (docs/_ext: the collector the manual's build uses too)

DIRECTIVE = re.compile(r"^\.\. (setting|errorcode|check):: (.+?)\s*$", re.M)


def documented(page: str, kind: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [name for found, name in DIRECTIVE.findall(text) if found == kind]


def rst_sources() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)


# -- every error code and check id -------------------------------------------------------------


def test_the_collector_finds_the_codes():
    codes, checks = kling_codes.collect()
    # One of each way a code is written: code="...", a class attribute, fail(job, "..."),
    # _refuse("..."), _transport_error("..."), the gateway's ERROR_TYPES table, check ids.
    assert {
        "deadline", "stream_interrupted", "generation_failed", "storage_failed",
        "image_too_small", "image_aspect", "image_empty", "prompt_too_long",
        "provider_rate_limited", "provider_auth", "provider_unreachable", "provider_timeout",
        "download_refused", "download_expired", "media_truncated", "budget_exceeded",
        "sound_needs_pro", "clip_not_found", "stale timestamp",
    } <= set(codes)
    assert {"django_kling.E001", "django_kling.E005", "django_kling.E101",
            "django_kling.W001"} <= set(checks)
    assert len(codes) >= 50
    # The gateway's table, read through the module itself, agrees with the source walk.
    from django_kling.providers.gateway import ERROR_TYPES

    assert {code for _status, code in ERROR_TYPES.values()} <= set(codes)


def test_every_error_code_is_in_troubleshooting():
    codes, checks = kling_codes.collect()
    page_codes = documented("troubleshooting.rst", "errorcode")
    page_checks = documented("troubleshooting.rst", "check")
    assert len(page_codes) == len(set(page_codes)), "a code is documented twice"
    missing = sorted(set(codes) - set(page_codes))
    assert not missing, f"add `.. errorcode:: CODE` to docs/troubleshooting.rst for {missing}"
    stale = sorted(set(page_codes) - set(codes))
    assert not stale, f"docs/troubleshooting.rst documents codes the code lacks: {stale}"
    assert sorted(page_checks) == sorted(checks)


def test_every_entry_has_a_cause():
    text = (DOCS / "troubleshooting.rst").read_text(encoding="utf-8")
    entries = re.split(r"^\.\. (?:errorcode|check):: ", text, flags=re.M)[1:]
    for entry in entries:
        name, _newline, body = entry.partition("\n")
        body = body.split("\n\n.. ")[0]
        assert "**Cause:**" in body, f"{name}: say what causes it"


# -- every setting -----------------------------------------------------------------------------


def expected_settings() -> set[str]:
    names = {s.name for s in conf.SETTINGS}
    for provider, options in conf.PROVIDER_OPTIONS.items():
        names |= {f'PROVIDERS["{provider}"]["{o.name}"]' for o in options}
    return names


def test_every_setting_is_documented():
    page = documented("settings.rst", "setting")
    assert len(page) == len(set(page)), "a setting is documented twice"
    missing = sorted(expected_settings() - set(page))
    assert not missing, f"add `.. setting:: NAME` to docs/settings.rst for {missing}"
    stale = sorted(set(page) - expected_settings())
    assert not stale, f"docs/settings.rst documents settings that do not exist: {stale}"


def test_every_setting_has_a_description_in_the_code():
    for setting in (*conf.SETTINGS, *(o for opts in conf.PROVIDER_OPTIONS.values()
                                      for o in opts)):
        assert setting.doc.strip(), f"{setting.name} has no doc in django_kling/conf.py"


def test_the_keys_of_dict_settings_are_documented():
    text = (DOCS / "settings.rst").read_text(encoding="utf-8")
    defaults = {s.name: s.default for s in conf.SETTINGS}
    keys = {*defaults["DEFAULTS"], *defaults["BUDGET"], *defaults["PRICES"],
            *(mode for modes in defaults["PRICES"].values() for mode in modes),
            *(k for modes in defaults["PRICES"].values() for table in modes.values()
              for k in table)}
    for key in keys:
        assert f'``"{key}"``' in text, f'say what {key!r} means in docs/settings.rst'


def test_settings_mentioned_elsewhere_exist():
    known = expected_settings()
    for path in rst_sources():
        for name in re.findall(r":setting:`([^`]+)`", path.read_text(encoding="utf-8")):
            assert name in known, f"{path.name} refers to an unknown setting {name}"


# -- commands, pictures, included files ----------------------------------------------------------


def test_every_command_is_documented():
    text = (DOCS / "commands.rst").read_text(encoding="utf-8")
    commands = ROOT / "django_kling" / "management" / "commands"
    for module in commands.glob("kling_*.py"):
        heading = f"``{module.stem}``\n" + "-" * (len(module.stem) + 4)
        assert heading in text, f"docs/commands.rst needs a section for {module.stem}"


def test_pictures_and_included_files_exist():
    for path in rst_sources():
        text = path.read_text(encoding="utf-8")
        for image in re.findall(r"^\.\. (?:image|figure):: (\S+)", text, re.M):
            assert (path.parent / image).is_file(), f"{path.name}: no picture {image}"
        for included in re.finditer(r"^\.\. literalinclude:: (\S+)\n((?:   :.*\n)*)", text,
                                    re.M):
            source = path.parent / included.group(1)
            assert source.is_file(), f"{path.name}: no file {included.group(1)}"
            for marker in re.findall(r":(?:start-after|end-before): (.+)", included.group(2)):
                assert marker in source.read_text(encoding="utf-8"), (source.name, marker)


# -- the quick start's examples run --------------------------------------------------------------


def run_example(name: str, namespace: dict | None = None, until: str = "") -> dict:
    """Run an example file (up to the line ``until``, if given); its globals."""
    path = EXAMPLES / name
    namespace = {"__name__": f"docs_example_{path.stem}", "__file__": str(path),
                 **(namespace or {})}
    text = path.read_text(encoding="utf-8")
    text = text.split(until, 1)[0] if until else text
    exec(compile(text, str(path), "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture
def shop_models(monkeypatch):
    """``shop.models`` in the examples: the test shop's models."""
    import tests.shop
    import tests.shop.models

    monkeypatch.setitem(sys.modules, "shop", tests.shop)
    monkeypatch.setitem(sys.modules, "shop.models", tests.shop.models)
    return tests.shop.models


def test_quickstart_settings_pass_the_system_checks(settings, monkeypatch):
    example = run_example("settings.py", until="# sandbox: start")  # the gateway, for real
    apps = example["INSTALLED_APPS"]
    assert apps.index("django_dramatiq") < apps.index("django_kling")
    import_string(example["DRAMATIQ_BROKER"]["BROKER"])
    for middleware in example["DRAMATIQ_BROKER"]["MIDDLEWARE"]:
        import_string(middleware)
    for storage in example["STORAGES"].values():
        import_string(storage["BACKEND"])

    monkeypatch.setenv("AI_GATEWAY_API_KEY", "from-the-environment")
    settings.STORAGES = example["STORAGES"]
    settings.DJANGO_KLING = example["DJANGO_KLING"]
    assert check_settings() == []
    # The S3 example's transfer settings keep W003 quiet; W007 asks for a signing certificate
    # (docs/ai-disclosure.rst), which the quick start leaves to the shop.
    assert [m.id for m in check_deploy()] == ["django_kling.W007"]
    assert conf.kling_settings.provider_options()["API_KEY"] == "from-the-environment"


def test_quickstart_admin_gives_the_action(shop_models, monkeypatch, admin_user, rf):
    site = AdminSite(name="docs_example")
    monkeypatch.setattr("django.contrib.admin.sites.site", site)
    run_example("admin.py")
    model_admin = site._registry[shop_models.Product]
    assert model_admin.check() == []
    request = rf.get("/")
    request.user = admin_user
    assert "generate_video" in model_admin.get_actions(request)


def test_quickstart_python_example_makes_a_clip(sandbox, worker, make_image, shop_models,
                                                 capsys, caplog):
    from tests.conftest import wait_for_end

    product = shop_models.Product(name="Sea salt")
    product.image.save("salt.png", ContentFile(make_image(960, 540)), save=True)
    receivers = load_module(EXAMPLES / "receivers.py")
    caplog.set_level(logging.INFO, logger="myshop.videos")
    try:
        example = run_example("first_clip.py")
        assert capsys.readouterr().out.strip() == "queued"
        job = wait_for_end(example["job"])
        assert job.status == "succeeded", (job.error_code, job.error_message)
        assert job.source_object == product and job.video.has_audio
        assert sandbox.billed == {job.idempotency_key: 1}
        assert any("clip ready for Sea salt" in r.getMessage() for r in caplog.records)
    finally:
        from django_kling.signals import video_failed, video_ready

        video_ready.disconnect(receivers.clip_ready, dispatch_uid="myshop.clip_ready")
        video_failed.disconnect(receivers.clip_failed, dispatch_uid="myshop.clip_failed")


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"docs_example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_host_project_test_example_passes(tmp_path):
    """docs/examples/conftest.py and test_host_project.py, run by pytest as a host project."""
    for name in ("conftest.py", "test_host_project.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "__init__.py").write_text("")
    (shop / "models.py").write_text("from tests.shop.models import Product  # noqa: F401\n")
    env = {k: v for k, v in os.environ.items()
           # Its own SQLite database and in-memory broker: never the suite's PostgreSQL test
           # database or Redis queues.
           if k not in ("DATABASE_URL", "REDIS_URL", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ds=tests.settings",
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout


# -- the build ---------------------------------------------------------------------------------


def test_the_manual_builds_without_warnings(tmp_path):
    if importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("furo") is None:
        pytest.skip('Sphinx is not installed: pip install -e ".[docs]" (CI builds the manual)')
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    settings_page = (tmp_path / "html" / "settings.html").read_text(encoding="utf-8")
    for name in expected_settings():
        shown = name.replace('"', "&quot;")
        assert shown in settings_page or name in settings_page, name
