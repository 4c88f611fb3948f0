"""Reconciliation: drift found, reported and repaired; the command and the scheduled job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import update

from community.config import Settings
from community.models import Event, EventStatus, SoldOutMode
from community.services.seats.inventory import Counts
from community.services.seats.reconcile import events_to_reconcile, reconcile_event
from community.services.seats.registrations import RegistrationService

ROOT = Path(__file__).resolve().parents[2]


async def register(service: RegistrationService, event_id: Any, who: str) -> Any:
    return await service.register(event_id, name=who, email=f"{who}@example.com")


async def counts(service: RegistrationService, event_id: Any) -> Counts:
    return await service.counts(event_id)


async def test_an_event_in_step_is_left_alone(
    registrations: RegistrationService, make_event: Any
) -> None:
    event = await make_event(capacity=5)
    for who in ("a", "b"):
        await register(registrations, event.id, who)
    await registrations.hold(event.id, name="H", email="h@example.com")
    generation = await registrations.inventory.generation(event.id)
    drift = await reconcile_event(registrations, event.id, grace_ms=0)
    assert not drift.drifted and not drift.rebuilt
    assert (drift.ledger_places, drift.open_holds) == (2, 1)
    assert "in step" in drift.summary()
    assert await registrations.inventory.generation(event.id) == generation


async def test_an_unloaded_event_is_loaded(
    registrations: RegistrationService, make_event: Any
) -> None:
    event = await make_event(capacity=5)
    await register(registrations, event.id, "a")
    await registrations.inventory.forget(event.id)
    drift = await reconcile_event(registrations, event.id)
    assert not drift.was_loaded and drift.rebuilt
    assert (await counts(registrations, event.id)).taken == 1


async def test_a_seat_left_by_a_failed_request_is_freed(
    registrations: RegistrationService, make_event: Any
) -> None:
    event = await make_event(capacity=2)
    await register(registrations, event.id, "a")
    # A request that took a seat and died before writing the ledger or giving it back.
    await registrations.inventory.reserve(event.id, ["e:crashed"])
    assert (await counts(registrations, event.id)).free == 0

    young = await reconcile_event(registrations, event.id, grace_ms=60_000)
    assert (young.in_flight, young.unknown_to_ledger, young.drifted) == (1, 0, False)
    assert (await counts(registrations, event.id)).free == 0

    drift = await reconcile_event(registrations, event.id, grace_ms=0)
    assert (drift.unknown_to_ledger, drift.rebuilt) == (1, True)
    assert "1 unknown to the database" in drift.summary()
    assert (await counts(registrations, event.id)).free == 1
    assert (await register(registrations, event.id, "b")).seat_no == 2


async def test_places_redis_lost_and_changed_settings_are_restored(
    registrations: RegistrationService, make_event: Any, session_maker: Any
) -> None:
    event = await make_event(capacity=4, reserve=1)
    for who in ("a", "b", "c"):
        await register(registrations, event.id, who)
    await registrations.inventory.release(event.id, [registrations.keys.email("b@example.com")])
    async with session_maker() as session, session.begin():
        await session.execute(update(Event).where(Event.id == event.id).values(native_reserve=2))
    drift = await reconcile_event(registrations, event.id, grace_ms=0)
    assert (drift.missing_in_redis, drift.settings_differ, drift.rebuilt) == (1, True, True)
    c = await counts(registrations, event.id)
    assert (c.taken, c.reserve, c.free) == (3, 2, 1)
    again = await reconcile_event(registrations, event.id, grace_ms=0)
    assert not again.drifted


async def test_reconcile_promotes_people_waiting_for_a_free_seat(
    registrations: RegistrationService, make_event: Any
) -> None:
    event = await make_event(capacity=1, mode=SoldOutMode.WAITLIST)
    first = await register(registrations, event.id, "a")
    await register(registrations, event.id, "b")
    # The cancellation reached the ledger, but the process died before promoting anyone.
    await registrations.inventory.release(event.id, [registrations.keys.email("a@example.com")])
    async with registrations.session_maker() as session, session.begin():
        from community.models import Registration

        await session.execute(
            update(Registration)
            .where(Registration.id == first.registration_id)
            .values(status="cancelled")
        )
    drift = await reconcile_event(registrations, event.id, grace_ms=0)
    assert drift.promoted == 1
    c = await counts(registrations, event.id)
    assert (c.taken, c.waiting) == (1, 0)


async def test_only_live_published_events_are_reconciled_on_schedule(
    registrations: RegistrationService, make_event: Any
) -> None:
    from datetime import timedelta

    live = await make_event()
    draft = await make_event(status=EventStatus.DRAFT)
    long_over = await make_event(starts_in=-timedelta(days=10))
    ids = await events_to_reconcile(registrations)
    assert live.id in ids and draft.id not in ids and long_over.id not in ids


async def test_a_vanished_event_drops_its_state(registrations: RegistrationService) -> None:
    from community.services.seats.inventory import InventorySettings, Snapshot

    event_id = uuid4()
    await registrations.inventory.load(event_id, Snapshot(InventorySettings(3, 0), []))
    drift = await reconcile_event(registrations, event_id)
    assert drift.removed and not await registrations.inventory.is_loaded(event_id)


async def test_scheduled_job_is_registered_and_runs(
    registrations: RegistrationService, make_event: Any, settings: Settings, redis: Any
) -> None:
    from community.tasks import registry
    from community.tasks.inventory import reconcile_inventory

    assert any(job.function is reconcile_inventory for job in registry.CRON_JOBS)
    event = await make_event(capacity=3)
    await register(registrations, event.id, "a")
    await registrations.inventory.forget(event.id)
    ctx = {"settings": settings, "redis": redis, "session_maker": registrations.session_maker}
    summary = await reconcile_inventory(ctx)
    assert summary["events"] >= 1
    assert (await counts(registrations, event.id)).taken == 1


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "REDIS_PREFIX": settings.redis_prefix,
        "SECRET_KEY": settings.secret_key,
        "DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "community", "reconcile", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


async def test_reconcile_command_reports_drift(
    registrations: RegistrationService, make_event: Any, settings: Settings
) -> None:
    event = await make_event(capacity=3)
    await register(registrations, event.id, "a")
    await registrations.inventory.reserve(event.id, ["e:orphan"])
    result = run_cli(settings, "--event", str(event.id), "--grace", "0")
    assert result.returncode == 0, result.stderr
    assert f"event {event.id}: drift: 0 missing in Redis, 1 unknown to the database" in (
        result.stdout
    )
    assert "1 had drifted" in result.stdout
    assert (await counts(registrations, event.id)).taken == 1

    again = await reconcile_event(registrations, event.id)
    assert "in step, 1 place(s)" in again.summary()

    bad = run_cli(settings, "--event", "not-a-uuid")
    assert bad.returncode == 2 and "invalid UUID" in bad.stderr
