from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_kling.conf import SETTINGS, KlingSettings, kling_settings
from django_kling.providers.gateway import GATEWAY_V4_URL, KLING_MODEL_ID


def test_defaults_without_user_settings():
    conf = KlingSettings({})
    assert conf.PROVIDER == "gateway"
    assert conf.STORAGE == "default"
    assert conf.DEFAULTS == {"duration": 5, "aspect_ratio": "16:9", "mode": "pro", "sound": True}
    options = conf.provider_options()
    assert options["BASE_URL"] == GATEWAY_V4_URL
    assert options["MODEL"] == KLING_MODEL_ID
    assert options["PROTOCOL"] == "async"


def test_api_key_defaults_to_environment(monkeypatch):
    monkeypatch.setenv("AI_GATEWAY_API_KEY", "from-env")
    assert KlingSettings({}).provider_options()["API_KEY"] == "from-env"
    monkeypatch.delenv("AI_GATEWAY_API_KEY")
    assert KlingSettings({}).provider_options()["API_KEY"] is None


def test_dict_settings_merge_over_defaults():
    conf = KlingSettings({"DEFAULTS": {"duration": 10},
                          "PROVIDERS": {"gateway": {"PROTOCOL": "stream"}}})
    assert conf.DEFAULTS["duration"] == 10
    assert conf.DEFAULTS["mode"] == "pro"
    assert conf.provider_options()["PROTOCOL"] == "stream"
    assert conf.provider_options()["MODEL"] == KLING_MODEL_ID


@pytest.mark.parametrize("user, where", [
    ({"POLL_INTERVALL": 3}, "POLL_INTERVALL"),
    ({"DEFAULTS": {"lenght": 5}}, "lenght"),
    ({"PROVIDERS": {"gateway": {"APIKEY": "x"}}}, "APIKEY"),
    ({"PRICES": {"pro": {"loud": "1"}}}, "loud"),
])
def test_unknown_keys_are_rejected(user, where):
    conf = KlingSettings(user)
    with pytest.raises(ImproperlyConfigured, match=where):
        conf.POLL_INTERVAL  # noqa: B018
        conf.DEFAULTS  # noqa: B018
        conf.provider_options()
        conf.PRICES  # noqa: B018


def test_unknown_provider_is_rejected():
    with pytest.raises(ImproperlyConfigured, match="Unknown provider 'nope'"):
        KlingSettings({}).provider_options("nope")


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        KlingSettings({}).NOPE  # noqa: B018


def test_reloads_when_the_setting_changes(settings):
    settings.DJANGO_KLING = {"POLL_INTERVAL": 1.5}
    assert kling_settings.POLL_INTERVAL == 1.5
    settings.DJANGO_KLING = {"POLL_INTERVAL": 7}
    assert kling_settings.POLL_INTERVAL == 7


def test_price_table():
    conf = KlingSettings({})
    assert conf.price_per_second("pro", True) == Decimal("0.14")
    assert conf.price_per_second("std", False) == Decimal("0.07")


def test_every_setting_is_documented():
    for setting in SETTINGS:
        assert setting.doc.strip(), setting.name
