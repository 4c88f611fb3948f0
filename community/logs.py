"""Structured logs: one JSON object per line, one line per request, no personal data."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from litestar.types import HTTPScope

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


def logs_requests() -> bool:
    """Production runs at WARNING: then the request log costs a rush nothing but this test."""
    return access_log.isEnabledFor(logging.INFO)


def log_request(scope: HTTPScope, status: int, started: float) -> None:
    """Method, route path, status and latency; never query strings, bodies or cookies."""
    access_log.info(
        "request",
        extra={
            "method": scope["method"],
            "path": scope.get("path_template") or scope["path"],
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
