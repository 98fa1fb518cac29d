"""TLS contexts for every part: one server context (gateway, ingest), one client context (Kafka).

Why here: the gateway and ingest both serve HTTPS and every Kafka client of the project
connects over TLS the same way, and a shell may import any core but not another
package's shell. The only effect is loading the PEM files named in the settings, once,
when a part starts; a missing or bad file is one :class:`TlsError` line, not a traceback.
"""

from __future__ import annotations

__layer__ = "core"

import ssl

from .errors import TlsError


def server_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The context to serve https:// and wss:// with, or None (plain http/ws) when neither is set."""
    if not cert and not key:
        return None
    if not cert or not key:
        raise TlsError("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(ctx, cert, key)
    return ctx


def client_context(cafile: str | None, certfile: str | None = None, keyfile: str | None = None) -> ssl.SSLContext:
    """A verifying client context: the system CAs, or only ``cafile``; a client certificate if given (mTLS)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile:
        try:
            ctx.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as err:
            raise TlsError(f"cannot load the CA file {cafile}: {getattr(err, 'strerror', None) or err}") from None
    if certfile or keyfile:
        if not certfile or not keyfile:
            raise TlsError("a client certificate needs both its certificate and its key file")
        _load_chain(ctx, certfile, keyfile)
    return ctx


def _load_chain(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        raise TlsError(f"cannot load the TLS certificate {cert} / key {key}: "
                       f"{getattr(err, 'strerror', None) or err}") from None
