"""`community demo`: everything a newcomer needs to see the product work, with no credentials."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from community.config import Settings
from community.db import sqlalchemy_config
from community.demo.content import DEMO_ADMIN_EMAIL, reset_demo_owner, seed_sample_events
from community.runner import serve_all
from community.services.payments.prices import is_paid, price_text

if TYPE_CHECKING:
    from community.demo.platforms import DemoPlatforms
    from community.demo.stripe import DemoStripe


async def run_demo(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    from community.demo.platforms import start_demo_platforms
    from community.demo.stripe import start_demo_stripe

    base = f"http://{host or settings.host}:{port or settings.port}"
    # Local stand-ins of Meetup, Eventbrite and Luma: the mirror works with no credentials.
    platforms = await start_demo_platforms(settings)
    try:
        # ...and of Stripe: the paid sample event can be bought with the test card.
        stripe = await start_demo_stripe(platforms.settings, base)
        try:
            await _run(platforms, stripe, base, host, port)
        finally:
            await stripe.stop()
    finally:
        await platforms.stop()


async def _run(
    platforms: DemoPlatforms, stripe: DemoStripe, base: str, host: str | None, port: int | None
) -> None:
    from community.demo.platforms import link_demo_listings, mirrored_event

    settings = stripe.settings
    config = sqlalchemy_config(settings, pool_size=1)
    async with config.get_session() as session:
        owner, password = await reset_demo_owner(session)
        events = await seed_sample_events(session, owner)
        mirrored = mirrored_event(events)
        if mirrored is not None:
            await link_demo_listings(session, platforms, owner, mirrored, base)
    await config.get_engine().dispose()

    lines = [
        "",
        "Community events demo is running.",
        f"  Public events:  {base}/",
        *(
            f"  {event.theme.title():<6} theme:   {base}/events/{event.slug}"
            + (f"  (paid: {price_text(event)})" if is_paid(event) else "")
            for event in events
        ),
        f"  Admin:          {base}/admin",
        f"  Door check-in:  {base}/door",
        f"  Sign in as {DEMO_ADMIN_EMAIL} with password {password}",
        f"  Data folder:    {settings.data_dir}",
        "  Sandbox platforms (the sample Meetup-style event is listed on each):",
        *platforms.describe(),
        *stripe.describe(),
        "Press Ctrl+C to stop.",
        "",
    ]

    def ready() -> None:
        # Last on the terminal, after every startup line: the addresses and the login. The
        # demo's terminal then shows what happens (our INFO lines, warnings), not each page
        # poll of an open admin tab, so the login stays in view.
        logging.getLogger("community.access").setLevel(logging.WARNING)
        print("\n".join(lines), flush=True)

    await serve_all(settings, host=host, port=port, on_ready=ready)
