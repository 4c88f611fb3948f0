from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, MediaType, Response, get
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def _probe(check: Any) -> str:
    try:
        await asyncio.wait_for(check, timeout=2.0)
    except Exception as exc:  # any failure means "down"; the kind is enough to act on
        return f"down ({type(exc).__name__})"
    return "ok"


async def _database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


class HealthController(Controller):
    path = "/healthz"
    include_in_schema = True

    @get(media_type=MediaType.JSON, cache=False, summary="Database and Redis reachability")
    async def health(self, db_engine: AsyncEngine, redis: Redis) -> Response[dict[str, str]]:
        database, cache = await asyncio.gather(_probe(_database(db_engine)), _probe(redis.ping()))
        ok = database == "ok" and cache == "ok"
        body = {"status": "ok" if ok else "degraded", "database": database, "redis": cache}
        return Response(body, status_code=200 if ok else 503)
