"""Settings: defaults, URL normalisation, and one clear sentence for each mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from community.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"DATA_DIR": str(tmp_path), **values}


def test_defaults_are_embedded_sandbox_with_a_generated_secret(tmp_path: Path) -> None:
    settings = load_settings(env(tmp_path))
    assert settings.embedded
    assert settings.platform_mode == "sandbox"
    assert len(settings.secret_key) >= 32
    # The generated key is kept, so sessions and tickets survive a restart.
    assert load_settings(env(tmp_path)).secret_key == settings.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_database_url_spellings_use_asyncpg(tmp_path: Path) -> None:
    settings = load_settings(
        env(tmp_path, DATABASE_URL="postgres://u:p@db:5432/app", REDIS_URL="redis://r:6379/1")
    )
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/app"
    assert settings.redis_url == "redis://r:6379/1"
    assert not settings.embedded


def test_platform_urls_are_overridable(tmp_path: Path) -> None:
    settings = load_settings(env(tmp_path, MEETUP_API_URL="http://127.0.0.1:9001/"))
    assert settings.meetup.api_url == "http://127.0.0.1:9001"
    assert settings.eventbrite.api_url == "https://www.eventbriteapi.com"
    assert settings.luma.api_url == "https://public-api.luma.com"


def test_credentials_switch_to_live_mode(tmp_path: Path) -> None:
    settings = load_settings(env(tmp_path, MEETUP_CLIENT_ID="id", MEETUP_CLIENT_SECRET="s"))
    assert settings.platform_mode == "live"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("DATABASE_URL", "mysql://localhost/db", "DATABASE_URL must be a URL"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a URL"),
        ("SECRET_KEY", "short", "SECRET_KEY must be at least 32"),
        ("BASE_URL", "ftp://x", "BASE_URL must be a URL"),
        ("PORT", "eighty", "PORT must be a whole number"),
        ("PORT", "70000", "PORT must be between"),
        ("SMTP_SECURITY", "tls1", "SMTP_SECURITY must be one of"),
        ("PLATFORM_MODE", "prod", "PLATFORM_MODE must be sandbox or live"),
        ("REDIS_URL", "redis+cluster://10.0.0.1:7000", "QUEUE_URL must name a single Redis"),
        ("QUEUE_URL", "redis+cluster://10.0.0.1:7000", "QUEUE_URL must be a URL"),
        ("REDIS_PREFIX", "cd:{x}:", "REDIS_PREFIX must not contain"),
    ],
)
def test_malformed_settings_name_the_setting(
    tmp_path: Path, name: str, value: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env(tmp_path, **{name: value}))
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_cluster_url_needs_a_queue_url_and_the_queues_default_to_redis(tmp_path: Path) -> None:
    cluster = load_settings(
        env(tmp_path, REDIS_URL="redis+cluster://10.0.0.1:7000", QUEUE_URL="redis://q:6379/0")
    )
    assert cluster.redis_cluster and cluster.queue_redis_url == "redis://q:6379/0"
    single = load_settings(env(tmp_path, REDIS_URL="redis://cache:6379/0"))
    assert not single.redis_cluster and single.queue_redis_url == "redis://cache:6379/0"


def test_cli_stops_with_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "community", "migrate"],
        env={**os.environ, "DATA_DIR": str(tmp_path), "DATABASE_URL": "mysql://nope/db"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Configuration error: DATABASE_URL must be a URL")


def test_the_data_dir_and_an_old_secret_key_file_are_made_private(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    load_settings(env(fresh))
    assert fresh.stat().st_mode & 0o077 == 0
    old = tmp_path / "old"
    old.mkdir()
    (old / "secret_key").write_text("k" * 48)
    (old / "secret_key").chmod(0o644)
    assert load_settings(env(old)).secret_key == "k" * 48
    assert (old / "secret_key").stat().st_mode & 0o777 == 0o600
