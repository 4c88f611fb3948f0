"""Structured logs: one JSON object per line, one line per request, no personal data."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("community").setLevel(level)
    # Their own access lines would repeat ours and may carry query strings; the job queue
    # logs every job it runs (dozens a minute): only its warnings and errors are worth a line.
    numeric = logging.getLevelName(level)
    quiet = max(logging.WARNING, numeric if isinstance(numeric, int) else logging.INFO)
    for noisy in ("uvicorn.access", "granian.access", "httpx", "httpcore", "saq"):
        logging.getLogger(noisy).setLevel(quiet)


access_log = logging.getLogger("community.access")


def request_log_middleware(app: ASGIApp) -> ASGIApp:
    """Log method, route path, status and latency; never query strings, bodies or cookies."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        # Production runs at WARNING: then this costs a rush nothing but this test.
        if scope["type"] != ScopeType.HTTP or not access_log.isEnabledFor(logging.INFO):
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, capture)
        finally:
            route = scope.get("path_template") or scope["path"]
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": route,
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    return middleware
