"""Accounts of organisers, owners and door staff."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService

from community.models import Role, User
from community.services.access.passwords import hash_password, password_problem, verify_password
from community.services.people.members import clean_name, normalise_email


class UserError(ValueError):
    """A user could not be created or changed; the message says why, for a person."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class UserRepository(SQLAlchemyAsyncRepository[User]):
    model_type = User


class UserService(SQLAlchemyAsyncRepositoryService[User]):
    repository_type = UserRepository

    async def create_user(
        self, *, email: str, name: str, password: str, role: Role | str = Role.ORGANISER
    ) -> User:
        try:
            email = normalise_email(email)
        except ValueError as exc:
            raise UserError("email", str(exc)) from None
        try:
            name = clean_name(name)
        except ValueError as exc:
            raise UserError("name", str(exc)) from None
        if (problem := password_problem(password)) is not None:
            raise UserError("password", problem)
        try:
            role = Role(role)
        except ValueError:
            raise UserError("role", "Role must be owner, organiser or door.") from None
        if await self.exists(User.email == email):
            raise UserError("email", "A user with this email already exists.")
        return await self.create(
            User(email=email, name=name, password_hash=hash_password(password), role=role),
            auto_commit=True,
        )

    async def authenticate(self, email: str, password: str) -> User | None:
        try:
            email = normalise_email(email)
        except ValueError:
            email = email.strip().lower()  # no account has it; the same work follows
        user = await self.get_one_or_none(User.email == email)
        if user is None or not user.is_active:
            # Same work either way, so timing does not tell which emails exist.
            verify_password(_DUMMY_HASH, password)
            return None
        if not verify_password(user.password_hash, password):
            return None
        user.last_login_at = datetime.now(UTC)
        await self.update(user, auto_commit=True)
        return user

    async def get_active(self, user_id: UUID) -> User | None:
        user = await self.get_one_or_none(User.id == user_id)
        return user if user is not None and user.is_active else None


_DUMMY_HASH = hash_password("not-a-real-password-0")
