"""Per-platform tokens: which chat platform is posting, checked in constant time.

Why per platform: each platform gets its own token, so one can be rotated or
revoked without touching the others, and logs say which platform sent what.
"""

from __future__ import annotations

__layer__ = "core"

import hmac
from pathlib import Path

from .errors import IngestError

MIN_TOKEN_LENGTH = 16


def parse_tokens(spec: str | None) -> dict[str, str]:
    """``platform=token,platform2=token2`` (or ``@/path/to/file`` with one pair per line) -> {token: platform}."""
    if not spec or not spec.strip():
        raise IngestError("no ingest tokens: set ALLIANCE_INGEST_TOKENS=platform=token[,platform2=token2]")
    text = spec.strip()
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as err:
            raise IngestError(f"ALLIANCE_INGEST_TOKENS file {text[1:]}: {err.strerror or err}") from None
    out: dict[str, str] = {}
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part or part.startswith("#"):
            continue
        platform, sep, token = part.partition("=")
        platform, token = platform.strip(), token.strip()
        if not sep or not platform or not token:
            raise IngestError("ALLIANCE_INGEST_TOKENS must look like platform=token[,platform2=token2]")
        if len(token) < MIN_TOKEN_LENGTH:
            raise IngestError(f"ALLIANCE_INGEST_TOKENS: the token of {platform} must have at least "
                              f"{MIN_TOKEN_LENGTH} characters")
        if token in out:
            raise IngestError(f"ALLIANCE_INGEST_TOKENS: {platform} and {out[token]} share a token")
        out[token] = platform
    return out


def platform_of(tokens: dict[str, str], authorization: str | None) -> str | None:
    """The platform a ``Bearer <token>`` header belongs to, or None (compared in constant time)."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    offered = authorization[len("Bearer "):].strip().encode()
    found = None
    for token, platform in tokens.items():
        if hmac.compare_digest(token.encode(), offered):
            found = platform
    return found
