"""Scheduled reconciliation of the seat inventory (Redis against the ledger)."""

from __future__ import annotations

import logging

from community.services.seats.reconcile import reconcile_all
from community.services.seats.registrations import RegistrationService
from community.tasks.context import JobContext
from community.tasks.registry import cron

log = logging.getLogger("community.reconcile")


@cron("*/5 * * * *", timeout=240)
async def reconcile_inventory(ctx: JobContext) -> dict[str, int]:
    """Every five minutes: rebuild drifted events, free seats left by failed requests."""
    service = RegistrationService.build(ctx["settings"], ctx["redis"], ctx["session_maker"])
    drifts = await reconcile_all(service)
    summary = {
        "events": len(drifts),
        "drifted": sum(1 for d in drifts if d.drifted),
        "promoted": sum(d.promoted for d in drifts),
    }
    log.info("inventory reconciled", extra=summary)
    return summary
