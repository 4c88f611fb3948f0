"""The `community` command: serve, web, worker, migrate, createuser, demo, reconcile."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from community.config import ConfigError, Settings, load_settings

T = TypeVar("T")

Command = Callable[[argparse.Namespace, Settings], int]


def run_served(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived process's loop on uvloop where it is installed (granian picks it for
    `community web` by itself): every await on a socket costs a fraction of asyncio's, and a
    rush is thousands of such awaits a second."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


COMMANDS: dict[str, tuple[str, Command, Callable[[argparse.ArgumentParser], None] | None]] = {}


def command(
    name: str, help_text: str, arguments: Callable[[argparse.ArgumentParser], None] | None = None
) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = (help_text, fn, arguments)
        return fn

    return register


def prepare(settings: Settings) -> Settings:
    """Resolve the servers (embedded when no URLs), create the database and migrate it."""
    from community.app import resolve_services
    from community.db import ensure_database, migrate

    settings = resolve_services(settings)
    assert settings.database_url
    asyncio.run(ensure_database(settings.database_url))
    migrate(settings)
    # Worker processes and web workers started from here reuse the same servers.
    os.environ["DATABASE_URL"] = settings.database_url
    os.environ["REDIS_URL"] = settings.redis_url or ""
    return settings


@command("migrate", "create the database if needed and apply every migration")
def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from community.db import describe

    settings = prepare(settings)
    assert settings.database_url
    print(f"Database {describe(settings.database_url)} is up to date.")
    return 0


def _createuser_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--email")
    parser.add_argument("--name")
    parser.add_argument("--role", default="owner", choices=["owner", "organiser", "door"])
    parser.add_argument("--password", help="omit to be prompted (recommended)")


@command("createuser", "create an owner, organiser or door-staff account", _createuser_args)
def cmd_createuser(args: argparse.Namespace, settings: Settings) -> int:
    from community.services.access.user_accounts import create_account
    from community.services.access.users import UserError

    interactive = sys.stdin.isatty()
    email = args.email or (input("Email: ") if interactive else "")
    name = args.name or (input("Name: ") if interactive else "")
    password = args.password or (getpass.getpass("Password: ") if interactive else "")
    if not (email and name and password):
        print("createuser needs --email, --name and --password when not run in a terminal.")
        return 2
    settings = prepare(settings)
    try:
        asyncio.run(
            create_account(settings, email=email, name=name, password=password, role=args.role)
        )
    except UserError as exc:
        print(f"Could not create the user: {exc.message}")
        return 1
    print(f"Created {args.role} {email.strip().lower()}.")
    return 0


def _serve_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)


@command("serve", "web and worker in one process (small installs)", _serve_args)
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from community.runner import serve_all

    settings = prepare(settings)
    run_served(serve_all(settings, host=args.host, port=args.port))
    return 0


def _web_args(parser: argparse.ArgumentParser) -> None:
    _serve_args(parser)
    parser.add_argument("--workers", type=int)


@command("web", "web processes only (granian), for larger installs", _web_args)
def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from granian import Granian
    from granian.constants import Interfaces

    settings = prepare(settings)
    Granian(
        "community.api_lane:create_served_app",
        factory=True,
        address=args.host or settings.host,
        port=args.port or settings.port,
        interface=Interfaces.ASGI,
        workers=args.workers or settings.web_workers,
    ).serve()
    return 0


def yield_cpu(by: int) -> None:
    """Lower this process's priority by `by` (as `nice`), so the web processes come first.

    With the kernel's session autogroups (on in most distributions' kernels), nice only ranks
    processes of one session against each other: a worker started in a session of its own (by
    a process manager, `setsid`, another terminal) kept an equal share of the CPU beside the
    web's session. Such a worker also lowers its session's group, which holds only itself and
    what it starts. (Under a service manager's cgroups, give the worker a lower CPU weight.)"""
    if not hasattr(os, "nice"):
        return
    nice = os.nice(by)
    autogroup = Path("/proc/self/autogroup")
    if os.getsid(0) == os.getpid() and autogroup.exists():
        with contextlib.suppress(OSError):
            autogroup.write_text(str(nice))


@command("worker", "background jobs only (SAQ), for larger installs")
def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from community.worker import run_workers

    settings = prepare(settings)
    if settings.worker_nice:
        yield_cpu(settings.worker_nice)
    run_served(run_workers(settings))
    return 0


def _demo_args(parser: argparse.ArgumentParser) -> None:
    _serve_args(parser)


@command("demo", "embedded services, sandbox platforms, a sample event; prints URLs", _demo_args)
def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from community.demo.run import run_demo

    settings = prepare(settings)
    run_served(run_demo(settings, host=args.host, port=args.port))
    return 0


def _reconcile_args(parser: argparse.ArgumentParser) -> None:
    from uuid import UUID

    parser.add_argument("--event", type=UUID, help="one event's id (default: every live event)")
    parser.add_argument(
        "--grace",
        type=float,
        default=5.0,
        help="seconds a seat may be in Redis before the database has it (default 5)",
    )


@command(
    "reconcile", "rebuild seat counts in Redis from the database; report drift", _reconcile_args
)
def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from community.services.seats.reconcile import run_reconcile

    if args.grace < 0:
        print("--grace must be zero or more seconds.")
        return 2
    settings = prepare(settings)
    return asyncio.run(run_reconcile(settings, event_id=args.event, grace_s=args.grace))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="community", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, _, arguments) in COMMANDS.items():
        child = sub.add_parser(name, help=help_text, description=help_text)
        if arguments is not None:
            arguments(child)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        return COMMANDS[args.command][1](args, settings)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
