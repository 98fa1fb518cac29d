"""``alliance-monitor token issue`` / ``token revoke``: the id printed at issue time revokes the token."""

from __future__ import annotations

from alliance_monitor.cli import main
from gateway.auth import keyring_from_env, verify_token
from gateway.errors import TokenError


def test_issue_then_revoke_by_token_and_by_id(monkeypatch, tmp_path, capsys):
    revoked = tmp_path / "revoked.txt"
    monkeypatch.delenv("ALLIANCE_GATEWAY_KEYS", raising=False)
    monkeypatch.setenv("ALLIANCE_GATEWAY_SECRET", "revoke-test-secret-0123456789")
    monkeypatch.setenv("ALLIANCE_GATEWAY_REVOKED", str(revoked))
    assert main(["token", "issue", "--role", "counselor", "--counselor-id", "c-1"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    jti = err.split("token id ")[1].split()[0]
    assert verify_token(keyring_from_env(), token).token_id == jti
    assert main(["token", "revoke", token, "--note", "lost laptop"]) == 0
    assert f"revoked token {jti}" in capsys.readouterr().out
    assert main(["token", "revoke", jti]) == 0
    assert "already revoked" in capsys.readouterr().out
    try:
        verify_token(keyring_from_env(), token)
        raise AssertionError("a revoked token was accepted")
    except TokenError as e:
        assert str(e) == "token revoked"


def test_revoke_without_a_file_or_with_garbage_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("ALLIANCE_GATEWAY_REVOKED", raising=False)
    assert main(["token", "revoke", "0" * 32]) == 2
    assert "no revocation file" in capsys.readouterr().err
    assert main(["token", "revoke", "not-a-token", "--file", str(tmp_path / "r.txt")]) == 2
    assert "not a token id nor a token" in capsys.readouterr().err
