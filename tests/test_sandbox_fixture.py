"""The ``sandbox`` fixture gives every test the sandbox as the session started it.

Two tests in file order: the first changes every option a test may change, the second sees
them back at their start values (a left-over OIDC token, padding or fal signing key once
changed what a later test measured).
"""

from __future__ import annotations

from django_kling.testing.sandbox.fal import signing_key

SEEN: dict[str, object] = {}


def test_a_test_changes_the_sandbox_options(sandbox):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    SEEN["fal_key"] = signing_key(sandbox)
    SEEN["render_scale"] = sandbox.render_scale
    sandbox.oidc_token = "left-over-oidc-token"
    sandbox.pad_to_bytes = 5_000_000
    sandbox.delay_range = (1.0, 2.0)
    sandbox.heartbeat_interval = 9.0
    sandbox.render_scale = 1.0
    sandbox.kling_secret_key = "another-secret"  # noqa: S105 (a fake)
    sandbox._fal_key = Ed25519PrivateKey.generate()  # a rotated key
    sandbox.set_fault("slow", seconds=0.1)
    sandbox.delay, sandbox.result = 3.0, "base64"


def test_the_next_test_gets_the_sandbox_as_it_started(sandbox):
    assert sandbox.oidc_token is None and sandbox.pad_to_bytes is None
    assert sandbox.delay_range is None and sandbox.heartbeat_interval == 0.5
    assert sandbox.kling_secret_key == "sandbox-secret-key"
    assert (sandbox.delay, sandbox.result) == (0.0, "url")
    assert sandbox.faults.active() == []
    if SEEN:  # run after the first test (not alone with -k)
        assert sandbox.render_scale == SEEN["render_scale"]
        assert signing_key(sandbox) is SEEN["fal_key"]
