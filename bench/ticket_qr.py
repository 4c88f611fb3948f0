"""CPU per ticket QR code: ours (community/services/tickets/qr.py) against segno's own path.

    python bench/ticket_qr.py [--tokens 300] [--rounds 3] [--json]

For --tokens ticket tokens signed with the real signer, measured in one process, CPU time
(time.process_time), the best of --rounds rounds, in milliseconds per ticket:
- `qr`: the module matrix (segno: `segno.make(token, error="m", mode="alphanumeric",
  micro=False)`, which searches all eight masks);
- `png`: the e-mail's PNG of an already made code (segno: `save(kind="png", scale=6,
  border=2, dark="#111111")`), and `qr_png` both together, as the e-mail pays them;
- `svg`: the ticket page's SVG of an already made code, and `qr_svg` both together;
- `mail`: a whole ticket e-mail composed by `compose_ticket_mail` (templates, calendar file,
  the PNG), with the view's `qr_png` as it is now and with segno's path in its place.
Every round also checks that both paths gave the same matrix and mask. No database: the
event and the registration are built in memory. With --json the last line printed is one
JSON object of the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch
from uuid import UUID, uuid4

import segno

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from community.config import Settings, load_settings  # noqa: E402
from community.models import Event, EventStatus, Registration, RegistrationStatus  # noqa: E402
from community.services.tickets import qr  # noqa: E402
from community.services.tickets.signatures import ticket_signer  # noqa: E402
from community.views import ticket_mail  # noqa: E402
from community.views.ticket_pages import TicketView, qr_payload, ticket_svg  # noqa: E402

SVG_LOOK: dict[str, Any] = {
    "xmldecl": False,
    "svgns": True,
    "dark": "#111111",
    "light": "#ffffff",
    "title": "Ticket QR code",
    "svgclass": "qr-svg",
    "lineclass": None,
    "omitsize": True,
}


def segno_qr(token: str) -> segno.QRCode:
    return segno.make(token, error="m", mode="alphanumeric", micro=False)


def segno_png(code: segno.QRCode) -> bytes:
    out = io.BytesIO()
    code.save(out, kind="png", scale=6, border=2, dark="#111111")
    return out.getvalue()


def segno_svg(code: segno.QRCode) -> str:
    out = io.BytesIO()
    code.save(out, kind="svg", scale=6, border=2, **SVG_LOOK)
    return out.getvalue().decode()


def our_png(symbol: qr.QRSymbol) -> bytes:
    return qr.png(symbol, scale=6, border=2, dark=(0x11, 0x11, 0x11))


def per_item_ms(items: list[Any], work: Callable[[Any], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for item in items:
            work(item)
        best = min(best, time.process_time() - started)
    return best * 1000 / len(items)


def tickets(count: int) -> list[TicketView]:
    starts = datetime.now(UTC) + timedelta(days=7)
    event = Event(
        id=uuid4(),
        slug="bench-night",
        title="Bench night",
        starts_at=starts,
        ends_at=starts + timedelta(hours=3),
        timezone="Europe/Berlin",
        venue_name="Community Hall",
        city="Berlin",
        status=EventStatus.PUBLISHED,
        capacity=100,
    )
    views = []
    for index in range(count):
        registration = Registration(
            id=uuid4(),
            event_id=event.id,
            name=f"Guest {index}",
            email=f"guest{index}@example.org",
            channel="native",
            status=RegistrationStatus.CONFIRMED,
            ticket_token=f"bench{index:020d}",
        )
        views.append(TicketView(registration, event, None, ""))
    return views


def measure(count: int, rounds: int) -> dict[str, Any]:
    settings = load_settings({"SECRET_KEY": "bench-" + "k" * 40})  # nothing read or written
    signer = ticket_signer(settings.secret_key)
    tokens = [signer.sign(UUID(int=n), uuid4()) for n in range(count)]
    codes = [segno_qr(token) for token in tokens]
    symbols = [qr.ticket_qr(token) for token in tokens]
    for code, symbol in zip(codes, symbols, strict=True):  # the figures compare equal outputs
        assert symbol.matrix == tuple(bytes(row) for row in code.matrix)
        assert symbol.mask == code.mask
        assert ticket_svg(symbol) == segno_svg(code)

    figures: dict[str, Any] = {"tokens": count}
    pairs: dict[str, tuple[tuple[list[Any], Callable[[Any], object]], ...]] = {
        "qr": ((tokens, segno_qr), (tokens, qr.ticket_qr)),
        "png": ((codes, segno_png), (symbols, our_png)),
        "qr_png": (
            (tokens, lambda t: segno_png(segno_qr(t))),
            (tokens, lambda t: our_png(qr.ticket_qr(t))),
        ),
        "svg": ((codes, segno_svg), (symbols, ticket_svg)),
        "qr_svg": (
            (tokens, lambda t: segno_svg(segno_qr(t))),
            (tokens, lambda t: ticket_svg(qr.ticket_qr(t))),
        ),
    }
    for name, ((before_items, before), (after_items, after)) in pairs.items():
        figures[f"{name}_segno_ms"] = round(per_item_ms(before_items, before, rounds), 3)
        figures[f"{name}_ours_ms"] = round(per_item_ms(after_items, after, rounds), 3)

    views = tickets(min(count, 100))

    def compose(view: TicketView) -> object:
        return ticket_mail.compose_ticket_mail(settings, view, "confirmed")

    def segno_qr_png(settings_: Settings, registration: Registration) -> bytes:
        return segno_png(segno_qr(qr_payload(settings_, registration)))

    compose(views[0])  # templates compiled once, outside the timing
    figures["mail_ours_ms"] = round(per_item_ms(views, compose, rounds), 3)
    with patch.object(ticket_mail, "qr_png", segno_qr_png):  # the view as it was, here only
        figures["mail_segno_ms"] = round(per_item_ms(views, compose, rounds), 3)
    for name in ("qr", "png", "qr_png", "svg", "qr_svg", "mail"):
        figures[f"{name}_speedup"] = round(
            figures[f"{name}_segno_ms"] / figures[f"{name}_ours_ms"], 1
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    args = parser.parse_args()
    figures = measure(args.tokens, args.rounds)
    print(f"ticket QR, CPU ms per ticket over {args.tokens} tokens (best of {args.rounds}):")
    for name in ("qr", "png", "qr_png", "svg", "qr_svg", "mail"):
        print(
            f"  {name:7} segno {figures[f'{name}_segno_ms']:7.3f}"
            f"   ours {figures[f'{name}_ours_ms']:7.3f}   x{figures[f'{name}_speedup']}"
        )
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
