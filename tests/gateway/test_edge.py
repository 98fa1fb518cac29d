"""The gateway's edge over real sockets: idle unauthenticated sockets, their caps, and TLS (wss://)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import urllib.error
import urllib.request

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from gateway.client_messages import CLOSE_TRY_AGAIN, CLOSE_UNAUTHORIZED
from gateway.server import Gateway, GatewayConfig
from tests.gateway.conftest import SECRET, counselor_token, recv_json
from tests.tls_helpers import make_pki


async def _closed(ws, timeout: float = 10.0) -> tuple[int, str, float]:
    """Wait for the server's close frame; (code, reason, seconds waited)."""
    start = time.monotonic()
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "dropped without a close frame"
        return closed.rcvd.code, closed.rcvd.reason, time.monotonic() - start


async def _hello(ws) -> dict:
    await ws.send(orjson.dumps({"type": "hello", "token": counselor_token("c-edge")}).decode())
    return await recv_json(ws, 10)


async def test_the_default_hello_timeout_is_short():
    assert GatewayConfig(secret=SECRET).hello_timeout_s <= 3.0


async def test_a_silent_client_is_closed_in_time():
    async with Gateway(GatewayConfig(secret=SECRET, port=0, hello_timeout_s=0.6)) as gw:
        ws = await connect(gw.url)
        code, reason, waited = await _closed(ws)
    assert code == CLOSE_UNAUTHORIZED and "no hello" in reason
    assert 0.5 <= waited < 2.5, waited


async def test_the_per_address_cap_closes_the_excess_and_frees_on_hello():
    async with Gateway(GatewayConfig(secret=SECRET, port=0, hello_timeout_s=30,
                                     max_unauthenticated_per_address=3)) as gw:
        silent = [await connect(gw.url) for _ in range(3)]
        extra = await connect(gw.url)
        code, reason, waited = await _closed(extra)
        assert code == CLOSE_TRY_AGAIN and "your address" in reason and waited < 2
        assert gw.waiting.refused == 1 and gw.waiting.by_address == {"127.0.0.1": 3}
        assert (await _hello(silent[0]))["type"] == "welcome"  # authenticated: no longer counted
        again = await connect(gw.url)
        assert (await _hello(again))["type"] == "welcome"
        for ws in silent + [again]:
            await ws.close()


async def test_the_global_cap_closes_the_excess():
    async with Gateway(GatewayConfig(secret=SECRET, port=0, hello_timeout_s=30, max_unauthenticated=2,
                                     max_unauthenticated_per_address=100)) as gw:
        silent = [await connect(gw.url) for _ in range(2)]
        code, reason, _ = await _closed(await connect(gw.url))
        assert code == CLOSE_TRY_AGAIN and "waiting to authenticate" in reason
        survey = await connect(gw.url.replace("/ws", "/survey/ws"))  # the survey socket waits in the same room
        assert (await _closed(survey))[0] == CLOSE_TRY_AGAIN
        for ws in silent:
            await ws.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    return make_pki(directory, "gateway"), make_pki(directory, "other")


async def test_wss_with_a_trusted_certificate(pki):
    mine, other = pki
    async with Gateway(GatewayConfig(secret=SECRET, port=0, tls_cert=str(mine.cert), tls_key=str(mine.key))) as gw:
        assert gw.url.startswith("wss://127.0.0.1:") and gw.http_url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(mine.ca))
        async with connect(gw.url, ssl=trusted) as ws:
            assert (await _hello(ws))["type"] == "welcome"

        def health() -> tuple[int, dict]:
            with urllib.request.urlopen(gw.http_url + "/healthz", context=trusted, timeout=10) as resp:
                return resp.status, orjson.loads(resp.read())

        status, body = await asyncio.to_thread(health)  # the gateway runs on this loop
        assert status == 200 and body["ready"] is True
        # a client that trusts another CA refuses the gateway's certificate
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(gw.url, ssl=ssl.create_default_context(cafile=str(other.ca)), open_timeout=10)
        # a plain ws:// client gets no websocket from a TLS port
        with pytest.raises((InvalidHandshake, OSError)) as plain:
            await connect(gw.url.replace("wss://", "ws://"), open_timeout=5)
        assert not isinstance(plain.value, ssl.SSLError)


async def test_a_half_configured_or_unreadable_certificate_is_one_line(pki, tmp_path):
    from streams.errors import TlsError

    mine, _ = pki
    with pytest.raises(TlsError, match="both a certificate and a key"):
        await Gateway(GatewayConfig(secret=SECRET, port=0, tls_cert=str(mine.cert))).start()
    (tmp_path / "bad.pem").write_text("not a certificate")
    with pytest.raises(TlsError, match="cannot load the TLS certificate"):
        await Gateway(GatewayConfig(secret=SECRET, port=0, tls_cert=str(tmp_path / "bad.pem"),
                                    tls_key=str(mine.key))).start()


@pytest.mark.browser
async def test_the_board_connects_over_wss_in_chromium(pki):
    """The page picks wss: when loaded over https:, and the CSP (connect-src 'self') lets it connect."""
    import tempfile

    from playwright.async_api import async_playwright

    from tests.gateway.conftest import supervisor_token
    from tests.gateway.test_pages_browser import CHROMIUM_FLAGS, chromium_path

    mine, _ = pki
    async with Gateway(GatewayConfig(secret=SECRET, port=0, tls_cert=str(mine.cert), tls_key=str(mine.key))) as gw:
        with tempfile.TemporaryDirectory(prefix="am-chromium-") as profile:
            async with async_playwright() as pw:
                # the test CA is not in Chromium's store; the TLS itself is checked by the tests above
                context = await pw.chromium.launch_persistent_context(
                    profile, executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
                    ignore_https_errors=True)
                try:
                    page = await context.new_page()
                    sockets: list[str] = []
                    page.on("websocket", lambda ws: sockets.append(ws.url))
                    await page.goto(f"{gw.http_url}/board#token={supervisor_token('ward-tls')}")
                    await page.wait_for_selector(".status.live", timeout=20_000)
                finally:
                    await context.close()
    assert sockets and all(url.startswith("wss://") for url in sockets), sockets


# -- every socket under a cap; behind a reverse proxy (gateway/client_address.py) --------------------------------

def _survey_url(gw: Gateway) -> str:
    return gw.url.replace("/ws", "/survey/ws")


async def _still_open(ws, wait: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except (asyncio.TimeoutError, TimeoutError):
        return True
    except ConnectionClosed:
        return False
    return True


async def test_200_idle_survey_sockets_from_one_client_are_refused_past_the_cap():
    """Issue 21: after one junk message a survey socket left the waiting room; 200 stayed open from one address."""
    async with Gateway(GatewayConfig(secret=SECRET, port=0, hello_timeout_s=30)) as gw:
        cap = gw.config.max_unauthenticated_per_address
        sockets = []
        for _ in range(200):
            ws = await connect(_survey_url(gw))
            with contextlib.suppress(ConnectionClosed):  # a refused one may be closed already
                await ws.send("junk")  # a junk message buys no time and does not leave the room
            sockets.append(ws)
        held = [ws for ws in sockets if await _still_open(ws, 0.05)]
        refused = [ws for ws in sockets if ws.close_code == CLOSE_TRY_AGAIN]
        assert len(held) == cap and len(refused) == 200 - cap
        for ws in sockets:
            await ws.close()


async def test_a_survey_socket_that_opened_its_form_still_counts():
    async with Gateway(GatewayConfig(secret=SECRET, port=0, hello_timeout_s=30,
                                     max_unauthenticated_per_address=3)) as gw:
        opened = []
        for _ in range(3):
            ws = await connect(_survey_url(gw))
            await ws.send(orjson.dumps({"type": "open", "token": "x"}).decode())
            assert (await recv_json(ws, 10))["type"] == "refused"  # no Kafka here: "unavailable", but served
            opened.append(ws)
        assert gw.waiting.by_address == {} and gw.survey_room.by_address == {"127.0.0.1": 3}
        code, reason, _ = await _closed(await connect(_survey_url(gw)))
        assert code == CLOSE_TRY_AGAIN and "your address" in reason
        assert (await _hello(await connect(gw.url)))["type"] == "welcome"  # the board's room is not taken
        await opened[0].close()
        for _ in range(100):  # the server sees the close on its own time
            if gw.survey_room.by_address.get("127.0.0.1") == 2:
                break
            await asyncio.sleep(0.02)
        again = await connect(_survey_url(gw))
        assert await _still_open(again)
        for ws in opened[1:] + [again]:
            await ws.close()


async def test_a_junk_message_does_not_extend_the_survey_hello_deadline():
    async with Gateway(GatewayConfig(secret=SECRET, port=0, hello_timeout_s=0.8)) as gw:
        ws = await connect(_survey_url(gw))
        start = time.monotonic()
        for _ in range(8):
            with contextlib.suppress(ConnectionClosed):
                await ws.send("junk")
                await asyncio.sleep(0.2)
        with contextlib.suppress(ConnectionClosed, asyncio.TimeoutError, TimeoutError):
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code is not None and time.monotonic() - start < 2.5


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_cap():
    """Issue 21: behind a reverse proxy every user shared the proxy's one 20-socket cap."""
    async with Gateway(GatewayConfig(secret=SECRET, port=0, hello_timeout_s=30, max_unauthenticated_per_address=2,
                                     trusted_proxies=("127.0.0.1/32",))) as gw:
        def via(client: str):
            return connect(gw.url, additional_headers={"X-Forwarded-For": client})

        first = [await via("203.0.113.5") for _ in range(2)]
        code, reason, _ = await _closed(await via("198.51.100.1, 203.0.113.5"))  # the client's own prefix is ignored
        assert code == CLOSE_TRY_AGAIN and "your address" in reason
        other = await via("203.0.113.6")
        assert await _still_open(other)
        assert gw.waiting.by_address == {"203.0.113.5": 2, "203.0.113.6": 1}
        for ws in first + [other]:
            await ws.close()


async def test_forwarded_for_from_an_untrusted_peer_is_ignored():
    async with Gateway(GatewayConfig(secret=SECRET, port=0, hello_timeout_s=30, max_unauthenticated_per_address=1)) as gw:
        held = await connect(gw.url, additional_headers={"X-Forwarded-For": "203.0.113.5"})
        code, _, _ = await _closed(await connect(gw.url, additional_headers={"X-Forwarded-For": "203.0.113.6"}))
        assert code == CLOSE_TRY_AGAIN and gw.waiting.by_address == {"127.0.0.1": 1}
        await held.close()


def _http(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


async def test_metrics_and_detailed_health_are_closed_to_clients_a_local_proxy_forwards():
    """Issue 21: behind a proxy on the same host /metrics and the detailed /healthz were open to anyone."""
    for trusted in ((), ("127.0.0.1",)):
        async with Gateway(GatewayConfig(secret=SECRET, port=0, trusted_proxies=trusted)) as gw:
            forwarded = {"X-Forwarded-For": "203.0.113.5"}
            assert (await asyncio.to_thread(_http, gw.port, "/metrics", forwarded))[0] == 403
            status, body = await asyncio.to_thread(_http, gw.port, "/healthz", forwarded)
            assert status == 200 and "connections" not in orjson.loads(body)
            status, body = await asyncio.to_thread(_http, gw.port, "/healthz", {"Forwarded": "for=127.0.0.1"})
            if not trusted:  # a header from a peer nobody trusts: never an observer, whatever it names
                assert "connections" not in orjson.loads(body)
            local = {} if not trusted else {"X-Forwarded-For": "127.0.0.1"}
            status, body = await asyncio.to_thread(_http, gw.port, "/healthz", local)
            assert status == 200 and "connections" in orjson.loads(body)


async def test_an_observer_network_reads_metrics_through_the_proxy():
    async with Gateway(GatewayConfig(secret=SECRET, port=0, trusted_proxies=("127.0.0.1",),
                                     observers=("192.0.2.0/24",))) as gw:
        assert (await asyncio.to_thread(_http, gw.port, "/metrics", {"X-Forwarded-For": "192.0.2.40"}))[0] == 200
        assert (await asyncio.to_thread(_http, gw.port, "/metrics", {"X-Forwarded-For": "198.51.100.1"}))[0] == 403
        assert (await asyncio.to_thread(_http, gw.port, "/metrics", {}))[0] == 403  # the proxy named nobody
