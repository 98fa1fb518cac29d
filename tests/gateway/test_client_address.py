"""Whose request is it: the peer, or the client a trusted proxy forwards for (gateway/client_address.py)."""

from __future__ import annotations

import pytest

from gateway.client_address import LOOPBACK, forwarded_hops, may_observe, parse_networks, resolve

PROXY = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def test_without_trusted_proxies_the_peer_is_the_client_and_headers_are_ignored():
    got = resolve("198.51.100.9", ["203.0.113.5"], ())
    assert got.address == "198.51.100.9"
    assert not got.vouched  # a forwarding header from a peer nobody trusts: never an observer


def test_a_trusted_proxy_names_the_client_from_the_right():
    # the client wrote "127.0.0.1" itself; the proxy appended the address it really saw
    got = resolve("10.1.1.1", ["127.0.0.1", "203.0.113.5"], PROXY)
    assert (got.address, got.vouched) == ("203.0.113.5", True)


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop():
    got = resolve("10.1.1.1", ["198.51.100.7", "203.0.113.5", "10.2.2.2"], PROXY)
    assert got.address == "203.0.113.5"


def test_a_trusted_proxy_that_names_nobody_is_not_an_observer():
    got = resolve("127.0.0.1", [], PROXY)
    assert got.address == "127.0.0.1" and not may_observe(got, LOOPBACK)


def test_a_forwarded_request_is_never_local_because_the_proxy_is():
    remote = resolve("127.0.0.1", ["203.0.113.5"], PROXY)
    assert not may_observe(remote, LOOPBACK)
    untrusted_local_proxy = resolve("127.0.0.1", ["203.0.113.5"], ())
    assert not may_observe(untrusted_local_proxy, LOOPBACK)
    assert may_observe(resolve("127.0.0.1", [], ()), LOOPBACK)
    assert may_observe(resolve("10.1.1.1", ["192.0.2.10"], PROXY), parse_networks(["192.0.2.0/24"]))


def test_forwarded_and_x_forwarded_for_are_parsed_with_ports_quotes_and_ipv6():
    assert forwarded_hops(['for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::17]:4711"'], [], []) == \
        ["192.0.2.60", '"[2001:db8::17]:4711"']
    got = resolve("10.0.0.1", forwarded_hops(['for="[2001:db8::17]:4711"'], [], []), PROXY)
    assert got.address == "2001:db8::17"
    assert forwarded_hops([], ["203.0.113.5, 10.0.0.2", "10.0.0.3"], []) == ["203.0.113.5", "10.0.0.2", "10.0.0.3"]
    assert resolve("10.0.0.1", ["192.0.2.1:5555"], PROXY).address == "192.0.2.1"
    assert forwarded_hops([], [], ["192.0.2.9"]) == ["192.0.2.9"]


def test_an_unparseable_hop_is_a_bounded_label_never_an_observer():
    got = resolve("10.0.0.1", ["unknown" + "x" * 500], PROXY)
    assert len(got.address) <= 64 and not got.vouched


def test_a_bad_network_is_named():
    with pytest.raises(ValueError, match="not an address or CIDR"):
        parse_networks(["10.0.0.0/33"])
