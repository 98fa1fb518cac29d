"""Who is at the other end of a request: the TCP peer, or the client a trusted reverse proxy forwards for.

Pure: the peer's address, the request's headers and the configured networks in,
a :class:`ClientAddress` out. The gateway keys its per-client caps on
:attr:`ClientAddress.address` and serves ``/metrics`` and the detailed
``/healthz`` only when :func:`may_observe` says so.

Why only from configured proxies: ``X-Forwarded-For`` and ``Forwarded`` are
request headers, so anyone can send them. They are believed only when the TCP
peer is a proxy the operator named (``--trusted-proxy CIDR``), and then read from
the right: each trusted proxy appends the address it saw, so the first address
from the right that is not itself a trusted proxy is the client (whatever a
client wrote to the left of it is ignored).

Why a forwarded request is never "local": behind a proxy on the same host every
request arrives from 127.0.0.1, so the peer alone would open ``/metrics`` to
anyone who reaches the proxy. A request that carries a forwarding header is
judged by the address it was forwarded for, and only when a trusted proxy says
so; a trusted proxy that does not say whom it forwards for is judged as nobody.
"""

from __future__ import annotations

__layer__ = "core"

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: who may read ``/metrics`` and the detailed ``/healthz`` unless configured otherwise
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
#: headers by which a proxy says whom it forwards for
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
#: longest address label kept (a malformed hop is kept as text, bounded)
MAX_LABEL = 64


@dataclass(frozen=True)
class ClientAddress:
    """The address a request is charged to.

    ``vouched``: the address is known for sure — the TCP peer of a request that
    carries no forwarding header, or the address trusted proxies forwarded for.
    A forwarding header from an untrusted peer, or a trusted proxy that names
    nobody, leaves the peer as ``address`` (for caps) but not vouched (for access).
    """

    address: str
    peer: str
    vouched: bool
    forwarded: bool


def parse_networks(specs: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``192.0.2.7``, ``::1``... as networks; ValueError names the bad one."""
    out: list[Network] = []
    for spec in specs:
        text = str(spec).strip()
        if not text:
            continue
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR network: {text[:60]!r}") from None
    return tuple(out)


def parse_address(text: str) -> Address | None:
    """An address as proxies write it (``192.0.2.1``, ``192.0.2.1:443``, ``[2001:db8::1]:443``, ``"..."``)."""
    value = text.strip().strip('"').strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None


def in_networks(address: str | Address | None, networks: Sequence[Network]) -> bool:
    ip = parse_address(address) if isinstance(address, str) else address
    return ip is not None and any(ip.version == net.version and ip in net for net in networks)


def forwarded_hops(forwarded: Sequence[str], x_forwarded_for: Sequence[str], x_real_ip: Sequence[str]) -> list[str]:
    """The forwarded-for chain, client first: ``Forwarded`` (RFC 7239) if sent, else ``X-Forwarded-For``,
    else ``X-Real-IP``. Every instance of a header counts, in order."""
    if forwarded:
        hops = []
        for header in forwarded:
            for element in header.split(","):
                for pair in element.split(";"):
                    name, sep, value = pair.strip().partition("=")
                    if sep and name.strip().lower() == "for":
                        hops.append(value.strip())
        return hops
    if x_forwarded_for:
        return [hop.strip() for header in x_forwarded_for for hop in header.split(",") if hop.strip()]
    return [h.strip() for h in x_real_ip[-1:] if h.strip()]


def resolve(peer: str, hops: Sequence[str], trusted: Sequence[Network]) -> ClientAddress:
    """The client a request is charged to, given its TCP peer and the forwarded-for chain (client first)."""
    forwarded = bool(hops)
    if not in_networks(peer, trusted):
        return ClientAddress(peer, peer, vouched=not forwarded, forwarded=forwarded)
    if not hops:  # a trusted proxy that does not say whom it forwards for
        return ClientAddress(peer, peer, vouched=False, forwarded=False)
    for hop in reversed(hops):
        ip = parse_address(hop)
        if ip is None:  # "unknown", an obfuscated id or garbage: the chain stops being knowable here
            return ClientAddress(hop.strip()[:MAX_LABEL] or "?", peer, vouched=False, forwarded=True)
        if not in_networks(ip, trusted):
            return ClientAddress(str(ip), peer, vouched=True, forwarded=True)
    return ClientAddress(str(parse_address(hops[0])), peer, vouched=True, forwarded=True)  # all hops are proxies


def may_observe(client: ClientAddress, observers: Sequence[Network]) -> bool:
    """May this client read ``/metrics`` and the detailed ``/healthz``? Only a vouched address in ``observers``."""
    return client.vouched and in_networks(client.address, observers)
