"""Token signing and verification (pure, no I/O)."""

from __future__ import annotations

import pytest

from gateway.auth import KeyRing, issue_token, keyring_from_env, secret_from_env, verify_token
from gateway.errors import TokenError

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
    ("abc.def", "malformed token"),
    ("abc.def.ghi", "malformed token"),
    ("tökén.ü.ß", "malformed token"),  # non-ASCII: used to raise UnicodeEncodeError (close 1011)
    ("\x00\xff\u200b", "malformed token"),
    ("eyJhbGciOiJub25lIiwia2lkIjoiZGVmYXVsdCJ9.eyJ2IjoyfQ.", "unsupported token algorithm"),  # alg none
    ("x" * 5000, "too long"),
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
    header, _, sig = tok.split(".")
    forged = ".".join((header, other.split(".")[1], sig))
    with pytest.raises(TokenError, match="signature"):
        verify_token(SECRET, forged, now=NOW)
    with pytest.raises(TokenError, match="signature"):
        verify_token(b"another-secret-0123456789", tok, now=NOW)


def test_a_token_is_a_standard_hs256_jwt_with_key_id_and_token_id():
    import jwt

    tok = issue_token(SECRET, role="counselor", counselor_id="c-7", now=NOW)
    assert jwt.get_unverified_header(tok) == {"alg": "HS256", "kid": "default", "typ": "JWT"}
    claims = jwt.decode(tok, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 8 * 3600  # the default lifetime: one shift
    assert len(claims["jti"]) == 32 and verify_token(SECRET, tok, now=NOW).token_id == claims["jti"]


def test_rotation_several_keys_verify_one_signs():
    old = KeyRing({"k1": b"old-secret-0123456789"}, "k1")
    both = KeyRing({"k1": b"old-secret-0123456789", "k2": b"new-secret-0123456789"}, "k2")
    new_only = KeyRing({"k2": b"new-secret-0123456789"}, "k2")
    old_tok = issue_token(old, role="supervisor", all_groups=True, now=NOW)
    new_tok = issue_token(both, role="supervisor", all_groups=True, now=NOW)
    assert jwt_kid(new_tok) == "k2"
    assert verify_token(both, old_tok, now=NOW).all_groups  # during the rotation both are accepted
    assert verify_token(new_only, new_tok, now=NOW).all_groups
    with pytest.raises(TokenError, match="unknown token key"):
        verify_token(new_only, old_tok, now=NOW)  # the old key is gone: its tokens with it


def jwt_kid(token: str) -> str:
    import jwt

    return jwt.get_unverified_header(token)["kid"]


def test_revoked_and_future_dated_tokens_are_refused():
    ring = KeyRing.single(SECRET)
    tok = issue_token(ring, role="counselor", counselor_id="c-7", now=NOW)
    viewer = verify_token(ring, tok, now=NOW)
    with pytest.raises(TokenError, match="token revoked"):
        verify_token(ring.with_revoked({viewer.token_id}), tok, now=NOW)
    future = issue_token(ring, role="counselor", counselor_id="c-7", now=NOW + 3600)
    with pytest.raises(TokenError, match="issued in the future"):
        verify_token(ring, future, now=NOW)
    assert verify_token(ring, future, now=NOW + 3600 - 30).counselor_id == "c-7"  # small clock skew is fine


def test_keys_and_revocations_from_the_environment(tmp_path):
    revoked = tmp_path / "revoked.txt"
    revoked.write_text("# revoked tokens\nabc123  # lost laptop\n\n", encoding="utf-8")
    ring = keyring_from_env({"ALLIANCE_GATEWAY_KEYS": "2026a=first-secret-0123456,2026b=second-secret-012345",
                             "ALLIANCE_GATEWAY_REVOKED": str(revoked)})
    assert set(ring.keys) == {"2026a", "2026b"} and ring.signing_kid == "2026b" and ring.revoked == {"abc123"}
    ring = keyring_from_env({"ALLIANCE_GATEWAY_KEYS": "a=first-secret-0123456,b=second-secret-012345",
                             "ALLIANCE_GATEWAY_SIGNING_KEY": "a"})
    assert ring.signing_kid == "a" and ring.revoked == frozenset()
    for bad, msg in (({"ALLIANCE_GATEWAY_KEYS": "nokey"}, "kid1=secret1"),
                     ({"ALLIANCE_GATEWAY_KEYS": "a=short"}, "at least 16"),
                     ({"ALLIANCE_GATEWAY_KEYS": "a=first-secret-0123456", "ALLIANCE_GATEWAY_SIGNING_KEY": "z"},
                      "not among the keys")):
        with pytest.raises(TokenError, match=msg):
            keyring_from_env(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"role": "counselor"}, "needs --counselor-id"),
    ({"role": "counselor", "counselor_id": "c", "groups": ["g"]}, "drop --group"),
    ({"role": "supervisor"}, "needs --group"),
    ({"role": "supervisor", "groups": ["g"], "all_groups": True}, "not both"),
    ({"role": "supervisor", "counselor_id": "c", "all_groups": True}, "not --counselor-id"),
    ({"role": "admin"}, "role must be"),
    ({"role": "supervisor", "all_groups": True, "ttl_s": 0}, "ttl must be"),
    ({"role": "supervisor", "all_groups": True, "ttl_s": 30 * 86400}, "ttl must be"),
    ({"role": "supervisor", "all_groups": True, "ttl_s": 7 * 86400}, "ttl must be"),  # a week is too long now
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
