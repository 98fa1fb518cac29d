"""The gateway's edge over real sockets: idle unauthenticated sockets, their caps, and TLS (wss://)."""

from __future__ import annotations

import asyncio
import ssl
import time
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
