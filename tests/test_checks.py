import pytest
from django.core import checks

from django_kling.checks import check_settings


def ids(**kwargs):
    return {message.id for message in check_settings()}


def test_test_settings_are_clean():
    assert check_settings() == []


def test_registered_with_django():
    assert not [m for m in checks.run_checks() if m.id.startswith("django_kling")]


def test_missing_api_key(settings, monkeypatch):
    monkeypatch.delenv("AI_GATEWAY_API_KEY", raising=False)
    settings.DJANGO_KLING = {}
    assert "django_kling.E003" in ids()


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
