"""Account tasks run outside a web request (the CLI and the demo)."""

from __future__ import annotations

from community.config import Settings
from community.db import sqlalchemy_config
from community.models import User
from community.services.access.users import UserService


async def create_account(
    settings: Settings, *, email: str, name: str, password: str, role: str
) -> User:
    config = sqlalchemy_config(settings, pool_size=1)
    try:
        async with config.get_session() as session:
            return await UserService(session=session).create_user(
                email=email, name=name, password=password, role=role
            )
    finally:
        await config.get_engine().dispose()
