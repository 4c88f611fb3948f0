"""TRUSTED_PROXIES: X-Forwarded-For names the client only when the direct peer is a trusted
proxy, and the two servers (`community web` on granian, `community serve` on uvicorn) agree.

The servers are real processes; the address the app saw shows in who the per-address
registration limit counts (one registration per address here).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from community.config import ConfigError, Settings, load_settings
from community.forwarded import client_from, networks_of
from community.models import Event, EventStatus

ROOT = Path(__file__).resolve().parent.parent.parent
LOOPBACK = networks_of(["127.0.0.1/32", "::1/128"])


def test_only_a_trusted_peer_names_the_client() -> None:
    # A client talking to us directly cannot claim another address.
    assert client_from("203.0.113.7", "198.51.100.1", LOOPBACK) == "203.0.113.7"
    # Our proxy on loopback says who it serves.
    assert client_from("127.0.0.1", "198.51.100.1", LOOPBACK) == "198.51.100.1"
    # What the client wrote itself (left of what our proxy appended) is not believed.
    assert client_from("127.0.0.1", "10.9.9.9, 198.51.100.1", LOOPBACK) == "198.51.100.1"
    # Proxies in a chain that are all trusted are skipped, right to left.
    chain = networks_of(["127.0.0.1/32", "10.0.0.0/8"])
    assert client_from("127.0.0.1", "198.51.100.1, 10.1.2.3", chain) == "198.51.100.1"
    # Garbage where an address belongs stops the walk at the last trusted hop.
    assert client_from("127.0.0.1", "not-an-ip", LOOPBACK) == "127.0.0.1"
    assert client_from("127.0.0.1", None, LOOPBACK) == "127.0.0.1"
    assert client_from("::ffff:127.0.0.1", "198.51.100.1", LOOPBACK) == "198.51.100.1"


def _trust_by_the_book(address: str, trusted: tuple[Any, ...]) -> bool | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in trusted)


@hypothesis_settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.ip_addresses().map(str),
        st.lists(st.integers(0, 300), min_size=1, max_size=5).map(
            lambda parts: ".".join(str(p) for p in parts)
        ),
        st.from_regex(r"\A[0-9.: a-fA-F]{0,20}\Z"),
        st.sampled_from(["01.2.3.4", "1.2.3.04", "0x7f.0.0.1", " 1.2.3.4", "1.2.3.4 ", "1.2.3"]),
    )
)
def test_a_hop_is_trusted_as_the_address_parser_would_say(address: str) -> None:
    """The dotted IPv4 fast path answers exactly as parsing the address does."""
    from community.forwarded import _trust

    blocks = networks_of(["127.0.0.1/32", "10.0.0.0/8", "192.168.4.0/22", "::1/128", "fd00::/8"])
    assert _trust(address, blocks) == _trust_by_the_book(address, blocks)


def test_the_setting_lists_addresses_and_blocks() -> None:
    base = {"SECRET_KEY": "x" * 40, "DATA_DIR": "/tmp/trusted-proxies-test"}
    settings = load_settings({**base, "TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8 ::1"})
    assert settings.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert load_settings(base).trusted_proxies == ()
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        load_settings({**base, "TRUSTED_PROXIES": "proxy.example"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def event(session_maker: async_sessionmaker[AsyncSession]) -> Event:
    start = datetime.now(UTC) + timedelta(days=3)
    event = Event(
        slug=f"proxy-test-{secrets.token_hex(4)}",
        title="Proxy test",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        capacity=50,
        status=EventStatus.PUBLISHED,
        published_at=datetime.now(UTC),
    )
    async with session_maker() as session, session.begin():
        session.add(event)
    return event


def _serve(settings: Settings, command: list[str], trusted: str, tmp: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "REDIS_PREFIX": settings.redis_prefix,
        "SECRET_KEY": settings.secret_key,
        "DATA_DIR": str(tmp),
        "LOG_LEVEL": "WARNING",
        "TRUSTED_PROXIES": trusted,
        "REGISTER_LIMIT_PER_ADDRESS": "1",
    }
    with open(tmp / "server.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "community", *command, "--port", str(port)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp / "server.log").read_text()[-2000:]
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


SERVERS = {"granian": ["web", "--workers", "1"], "uvicorn": ["serve"]}


@pytest.mark.parametrize("server", sorted(SERVERS))
@pytest.mark.parametrize("trusted", ["127.0.0.1", ""])
def test_both_servers_honour_trusted_proxies_alike(
    settings: Settings, event: Event, server: str, trusted: str, tmp_path: Path
) -> None:
    def register(base: str, forwarded_for: str) -> int:
        response = httpx.post(
            f"{base}/api/events/{event.id}/registrations",
            json={"name": "Ada", "email": f"ada.{secrets.token_hex(4)}@example.com"},
            headers={"x-forwarded-for": forwarded_for},
        )
        return response.status_code

    for base in _serve(settings, SERVERS[server], trusted, tmp_path):
        first = register(base, "198.51.100.1")
        other_person = register(base, "198.51.100.2")
        same_person = register(base, "198.51.100.1")
    assert first == 201
    if trusted:
        # Each address is its own client: one registration each.
        assert (other_person, same_person) == (201, 429)
    else:
        # Nobody is trusted: the header is ignored and everyone is the loopback peer.
        assert (other_person, same_person) == (429, 429)
