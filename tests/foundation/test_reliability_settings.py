"""The reliability settings: mail limits, database timeouts, the worker's grace period."""

from __future__ import annotations

from pathlib import Path

import pytest

from community.config import ConfigError, load_settings
from community.db import sqlalchemy_config
from community.tasks.registry import CRON_JOBS
from community.worker import load_task_modules


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    assert settings.mail_limits.repeat_window_s == 600
    assert settings.mail_limits.recipient_hourly_quota == 10
    assert settings.mail_limits.redrive_after_s == 120
    assert settings.mail_limits.cpu_wait_s == 2
    assert settings.db_timeouts.statement_s == 5 and settings.db_timeouts.connect_s == 5
    assert settings.worker_grace_s == 20
    assert settings.worker_nice == 10
    assert settings.pools.registrations_at_once == 4


def test_values_are_read_and_bounded(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DATA_DIR": str(tmp_path),
            "MAIL_REPEAT_MINUTES": "3",
            "MAIL_RECIPIENT_HOURLY_QUOTA": "4",
            "MAIL_REDRIVE_SECONDS": "30",
            "MAIL_CPU_WAIT_SECONDS": "0",
            "DATABASE_STATEMENT_TIMEOUT": "2",
            "DATABASE_CONNECT_TIMEOUT": "1",
            "WORKER_SHUTDOWN_GRACE": "0",
        }
    )
    assert settings.mail_limits.repeat_window_s == 180
    assert settings.mail_limits.recipient_hourly_quota == 4
    assert settings.mail_limits.cpu_wait_s == 0  # ticket e-mails never wait
    assert settings.db_timeouts.statement_s == 2 and settings.worker_grace_s == 0
    with pytest.raises(ConfigError, match="DATABASE_STATEMENT_TIMEOUT must be between"):
        load_settings({"DATA_DIR": str(tmp_path), "DATABASE_STATEMENT_TIMEOUT": "0"})
    with pytest.raises(ConfigError, match="MAIL_CPU_WAIT_SECONDS must be between"):
        load_settings({"DATA_DIR": str(tmp_path), "MAIL_CPU_WAIT_SECONDS": "11"})
    with pytest.raises(ConfigError, match="MAIL_RECIPIENT_HOURLY_QUOTA must be a whole number"):
        load_settings({"DATA_DIR": str(tmp_path), "MAIL_RECIPIENT_HOURLY_QUOTA": "lots"})


def test_the_database_connections_carry_the_timeouts(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://u@db/x",
            "REDIS_URL": "redis://r",
            "DATABASE_STATEMENT_TIMEOUT": "3",
            "DATABASE_CONNECT_TIMEOUT": "2",
        }
    )
    engine = sqlalchemy_config(settings).engine_config
    assert engine.pool_timeout == settings.pools.db_wait_s  # the pool's own wait
    assert engine.connect_args["timeout"] == 2
    assert engine.connect_args["server_settings"]["statement_timeout"] == "3000"
    assert engine.connect_args["command_timeout"] > 3  # the server cancels first
    # Migrations may rightly run long statements.
    migrations = sqlalchemy_config(settings, statement_timeout=False).engine_config
    assert "statement_timeout" not in migrations.connect_args["server_settings"]


def test_the_outbox_is_re_driven_every_minute() -> None:
    load_task_modules()
    schedules = {job.function.__name__: job.cron for job in CRON_JOBS}
    assert schedules["redrive_outbox"] == "* * * * *"
