import pytest
from django.core import checks

from django_kling.checks import check_deploy, check_settings


def ids(**kwargs):
    return {message.id for message in check_settings()}


def test_test_settings_are_clean():
    assert check_settings() == []


def test_registered_with_django():
    # Django 6.1 runs database checks on every database unless told which: none here.
    assert not [m for m in checks.run_checks(databases=[]) if m.id.startswith("django_kling")]


def test_missing_api_key_is_a_deploy_check_only(settings, monkeypatch):
    monkeypatch.delenv("AI_GATEWAY_API_KEY", raising=False)
    settings.DJANGO_KLING = {}
    assert "django_kling.E003" not in ids()  # migrate / collectstatic need no secrets
    assert "django_kling.E003" in {m.id for m in check_deploy()}
    deploy_ids = {m.id for m in checks.run_checks(include_deployment_checks=True, databases=[],
                                                  tags=["django_kling"])}
    assert "django_kling.E003" in deploy_ids


def test_checks_have_their_own_tag():
    assert "django_kling" in checks.registry.registry.tags_available()
    assert "django_kling" in checks.registry.registry.tags_available(deployment_checks=True)


def test_broker_without_the_actors_middleware(settings):
    import dramatiq
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.middleware import AgeLimit

    previous = dramatiq.get_broker()
    dramatiq.set_broker(StubBroker(middleware=[AgeLimit()]))
    try:
        [error] = [m for m in check_settings() if m.id == "django_kling.E008"]
    finally:
        dramatiq.set_broker(previous)
    assert "max_retries" in error.msg and "time_limit" in error.msg
    assert "Retries" in error.hint
    assert "django_kling.E008" not in ids()


@pytest.mark.parametrize("backend, warned", [
    ("django.core.cache.backends.locmem.LocMemCache", True),
    ("django.core.cache.backends.dummy.DummyCache", True),
    ("django.core.cache.backends.db.DatabaseCache", False),
])
def test_webhooks_need_a_shared_cache(settings, backend, warned):
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "kling_cache"}}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "WEBHOOK_URL": "https://shop.example"}
    assert ("django_kling.W002" in {m.id for m in check_deploy()}) is warned


def test_no_webhook_no_cache_warning(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert "django_kling.W002" not in {m.id for m in check_deploy()}


def test_s3_uploads_that_hold_too_much_memory(settings):
    from boto3.s3.transfer import TransferConfig

    s3 = {"BACKEND": "storages.backends.s3.S3Storage",
          "OPTIONS": {"bucket_name": "b", "region_name": "us-east-1"}}
    settings.STORAGES = {**settings.STORAGES, "videos": s3}
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "STORAGE": "videos"}
    [warning] = [m for m in check_deploy() if m.id == "django_kling.W003"]
    assert "80 MiB" in warning.msg and "transfer_config" in warning.hint

    small = TransferConfig(max_concurrency=2, multipart_chunksize=8 * 2**20)
    small.max_in_memory_upload_chunks = 2
    settings.STORAGES = {**settings.STORAGES,
                         "videos": {**s3, "OPTIONS": {**s3["OPTIONS"], "transfer_config": small}}}
    assert "django_kling.W003" not in {m.id for m in check_deploy()}


def test_unknown_key(settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "TYPO": 1}
    assert ids() == {"django_kling.E001"}


def test_unknown_provider(settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "PROVIDER": "nope"}
    assert "django_kling.E002" in ids()


def test_storage_alias_missing(settings):
    settings.DJANGO_KLING = {**settings.DJANGO_KLING, "STORAGE": "videos"}
    [error] = [m for m in check_settings() if m.id == "django_kling.E004"]
    assert "'videos'" in error.msg and "default" in error.hint


def test_no_broker(settings):
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "django_dramatiq"]
    assert "django_kling.E005" in ids()


@pytest.mark.parametrize("options, code", [
    ({"PROTOCOL": "poll"}, "django_kling.E006"),
    ({"PROTOCOL": "async", "BASE_URL": "https://ai-gateway.vercel.sh/v3/ai"}, "django_kling.E007"),
])
def test_protocol_checks(settings, options, code):
    settings.DJANGO_KLING = {"PROVIDERS": {"gateway": {"API_KEY": "k", **options}}}
    assert code in ids()


def test_api_key_never_in_check_messages(settings):
    settings.DJANGO_KLING = {"PROVIDERS": {"gateway": {"API_KEY": "sk-secret-123",
                                                       "PROTOCOL": "nope"}}}
    text = " ".join(f"{m.msg} {m.hint}" for m in check_settings())
    assert "sk-secret-123" not in text


def test_workers_without_the_scheduler_are_a_deploy_warning(settings):
    from django_kling.checks import check_deploy

    assert "django_kling.W004" not in {m.id for m in check_deploy()}
    settings.DRAMATIQ_BROKER = {**settings.DRAMATIQ_BROKER, "MIDDLEWARE": [
        m for m in settings.DRAMATIQ_BROKER["MIDDLEWARE"] if not m.endswith(".Scheduler")]}
    [warning] = [m for m in check_deploy() if m.id == "django_kling.W004"]
    assert "kling_sync --loop" in warning.hint


@pytest.mark.parametrize("changes, problem", [
    ({"MEDIA_URL": ""}, "MEDIA_URL is not set"),
    ({"MEDIA_ROOT": ""}, "MEDIA_ROOT is not set"),
    ({"DEBUG": True, "ROOT_URLCONF": "django_kling.urls"}, "no URL pattern serves"),
])
def test_a_file_system_storage_whose_files_cannot_be_served(settings, changes, problem):
    # startproject's settings: neither MEDIA_ROOT nor MEDIA_URL, and no media in urls.py.
    for name, value in changes.items():
        setattr(settings, name, value)
    [warning] = [m for m in check_settings() if m.id == "django_kling.W006"]
    assert problem in warning.msg and "'default'" in warning.msg
    assert "MEDIA_URL" in warning.hint and "static(" in warning.hint


def test_served_media_and_other_storages_are_not_warned_about(settings):
    settings.DEBUG = True  # tests/urls.py serves /media/
    assert "django_kling.W006" not in ids()
    settings.MEDIA_URL = "https://media.example.com/"  # another server's business
    settings.MEDIA_ROOT = ""
    assert [m.msg for m in check_settings()
            if m.id == "django_kling.W006"] == [
        "Storage 'default' stores uploads and clips on disk, but MEDIA_ROOT is not set, so "
        "files land in the working directory: pictures and clips would answer 404."]


@pytest.mark.parametrize("options, warned", [
    ({"API_KEY": "sandbox-key"}, True),  # the sandbox's key (make demo, kling_sandbox)
    ({"API_KEY": "k", "BASE_URL": "http://127.0.0.1:8001/v4/ai"}, True),
    ({"API_KEY": "k", "BASE_URL": "http://localhost:8001/v4/ai"}, True),
    ({"API_KEY": "k", "BASE_URL": "http://[::1]:8001/v4/ai"}, True),
    ({"API_KEY": "k"}, False),
    ({"API_KEY": "k", "BASE_URL": "https://ai-gateway.vercel.sh/v4/ai"}, False),
])
def test_settings_that_point_at_the_sandbox_are_a_deploy_warning(settings, options, warned):
    # Issue 21: check --deploy was silent when production settings still named the sandbox.
    settings.DJANGO_KLING = {"PROVIDERS": {"gateway": options}}
    found = [m for m in check_deploy() if m.id == "django_kling.W030"]
    assert bool(found) is warned
    assert "django_kling.W030" not in ids()  # only at deploy time: the demo is fine
    if found:
        assert "sandbox" in found[0].msg and "sandbox-key" not in found[0].msg
