"""`community demo`: everything a newcomer needs to see the product work, with no credentials."""

from __future__ import annotations

from community.config import Settings
from community.db import sqlalchemy_config
from community.runner import serve_all
from community.services.demo_data import DEMO_ADMIN_EMAIL, reset_demo_owner, seed_sample_events


async def run_demo(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    config = sqlalchemy_config(settings, pool_size=1)
    async with config.get_session() as session:
        owner, password = await reset_demo_owner(session)
        events = await seed_sample_events(session, owner)
    await config.get_engine().dispose()

    base = f"http://{host or settings.host}:{port or settings.port}"
    lines = [
        "",
        "Community events demo is running.",
        f"  Public events:  {base}/",
        *(f"  {event.theme.title():<6} theme:   {base}/events/{event.slug}" for event in events),
        f"  Admin:          {base}/admin",
        f"  Door check-in:  {base}/door",
        f"  Sign in as {DEMO_ADMIN_EMAIL} with password {password}",
        f"  Data folder:    {settings.data_dir}",
        "Press Ctrl+C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)
    await serve_all(settings, host=host, port=port)
