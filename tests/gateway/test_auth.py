"""Token signing and verification (pure, no I/O)."""

from __future__ import annotations

import pytest

from gateway.auth import TokenError, issue_token, secret_from_env, verify_token

SECRET = b"unit-test-secret-0123456789"
NOW = 1_800_000_000.0


def test_counselor_token_round_trip():
    tok = issue_token(SECRET, role="counselor", counselor_id="c-7", ttl_s=60, now=NOW)
    viewer = verify_token(SECRET, tok, now=NOW + 59)
    assert (viewer.role, viewer.counselor_id, viewer.name, viewer.groups) == ("counselor", "c-7", "c-7", frozenset())


def test_supervisor_token_carries_groups_or_all():
    v = verify_token(SECRET, issue_token(SECRET, role="supervisor", groups=["b", "a", "a"], now=NOW), now=NOW)
    assert v.groups == frozenset({"a", "b"}) and not v.all_groups
    v = verify_token(SECRET, issue_token(SECRET, role="supervisor", all_groups=True, name="Dr X", now=NOW), now=NOW)
    assert v.all_groups and v.name == "Dr X"


@pytest.mark.parametrize("token, reason", [
    (None, "missing token"),
    ("", "missing token"),
    ("abc", "malformed token"),
    ("abc.def", "bad token signature"),
])
def test_malformed_tokens(token, reason):
    with pytest.raises(TokenError, match=reason):
        verify_token(SECRET, token, now=NOW)


def test_expired_and_tampered_tokens_are_refused():
    tok = issue_token(SECRET, role="counselor", counselor_id="c-7", ttl_s=60, now=NOW)
    with pytest.raises(TokenError, match="token expired"):
        verify_token(SECRET, tok, now=NOW + 60)
    # swap the claims for another counselor's, keep the signature: refused
    other = issue_token(SECRET, role="counselor", counselor_id="c-8", ttl_s=60, now=NOW)
    forged = other.split(".")[0] + "." + tok.split(".")[1]
    with pytest.raises(TokenError, match="signature"):
        verify_token(SECRET, forged, now=NOW)
    with pytest.raises(TokenError, match="signature"):
        verify_token(b"another-secret-0123456789", tok, now=NOW)


@pytest.mark.parametrize("kwargs, message", [
    ({"role": "counselor"}, "needs --counselor-id"),
    ({"role": "counselor", "counselor_id": "c", "groups": ["g"]}, "drop --group"),
    ({"role": "supervisor"}, "needs --group"),
    ({"role": "supervisor", "groups": ["g"], "all_groups": True}, "not both"),
    ({"role": "supervisor", "counselor_id": "c", "all_groups": True}, "not --counselor-id"),
    ({"role": "admin"}, "role must be"),
    ({"role": "supervisor", "all_groups": True, "ttl_s": 0}, "ttl must be"),
    ({"role": "supervisor", "all_groups": True, "ttl_s": 30 * 86400}, "ttl must be"),
])
def test_issue_refuses_nonsense_scopes(kwargs, message):
    with pytest.raises(TokenError, match=message):
        issue_token(SECRET, **kwargs)


def test_secret_must_be_set_and_long_enough():
    with pytest.raises(TokenError, match="set ALLIANCE_GATEWAY_SECRET"):
        secret_from_env({})
    with pytest.raises(TokenError, match="at least 16"):
        secret_from_env({"ALLIANCE_GATEWAY_SECRET": "short"})
    assert secret_from_env({"ALLIANCE_GATEWAY_SECRET": "x" * 16}) == b"x" * 16
