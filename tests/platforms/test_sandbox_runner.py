"""The stand-ins served on real loopback sockets inside the test's event loop."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from community.platforms import PlatformTransient, RemoteListingState, make_client
from community.sandbox.demo import DEMO_PEOPLE, seed_demo
from community.sandbox.runner import SandboxRunner, run_sandboxes


def token_of(credentials: dict[str, str]) -> str:
    return credentials.get("access_token") or credentials["api_key"]


@pytest.mark.asyncio
async def test_runner_serves_all_three_on_loopback_with_demo_state() -> None:
    async with run_sandboxes() as running:
        assert set(running) == {"meetup", "eventbrite", "luma"}
        ports = {urlport(r.base_url) for r in running.values()}
        assert len(ports) == 3
        event_ids = seed_demo({name: r.sandbox for name, r in running.items()})

        for name, served in running.items():
            assert served.base_url.startswith("http://127.0.0.1:")
            client = make_client(name, served.base_url, token_of(served.credentials))
            event = await client.get_event(event_ids[name])
            assert event.title == "Python Community Night"
            # Each platform counts the guests people bring (Meetup +1s, Eventbrite tickets).
            assert event.going_count == sum(1 + p.guests for p in DEMO_PEOPLE[name])
            result = await client.set_state(event_ids[name], RemoteListingState.OPEN, 3, limit=40)
            assert result.limit == 40
            await client.aclose()
            async with httpx.AsyncClient(base_url=served.base_url) as http:
                state = (await http.get("/_sandbox/state")).json()
            assert state["events"][0]["limit"] == 40
            assert state["calls"], "the call log records API calls"


@pytest.mark.asyncio
async def test_hang_times_out_over_a_real_socket_and_stop_is_prompt() -> None:
    runner = SandboxRunner()
    running = await runner.start()
    served = running["luma"]
    client = make_client("luma", served.base_url, token_of(served.credentials), timeout=0.3)
    served.sandbox.faults.inject("hang", 2)

    with pytest.raises(PlatformTransient):
        await client.whoami()

    # A request still hanging in the server must not hold up stopping.
    patient = make_client("luma", served.base_url, token_of(served.credentials), timeout=10)
    served.sandbox.faults.inject("hang")
    pending = asyncio.create_task(patient.whoami())
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    await runner.stop()
    assert time.perf_counter() - started < 3
    with pytest.raises(PlatformTransient):
        await pending
    await client.aclose()
    await patient.aclose()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", urlport(served.base_url))) != 0


@pytest.mark.asyncio
async def test_busy_port_raises_in_the_caller() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        runner = SandboxRunner(ports={"eventbrite": busy})
        with pytest.raises(OSError):
            await runner.start()
    assert runner.running == {}


def urlport(url: str) -> int:
    return int(url.rsplit(":", 1)[1])
