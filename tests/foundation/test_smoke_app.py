from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient


async def test_healthz_reports_both_services(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}
