"""The organiser admin: server-rendered pages with htmx fragments under /admin."""

from __future__ import annotations

from typing import Any

from community.controllers.admin.accounts import AccountsController
from community.controllers.admin.activity import ActivityController
from community.controllers.admin.events import EventsController
from community.controllers.admin.members import AttendeesController, MembersController
from community.controllers.admin.overview import OverviewController
from community.controllers.admin.payments import PaymentsController
from community.controllers.admin.users import UsersController, WelcomeController

ADMIN_CONTROLLERS: list[Any] = [
    EventsController,
    OverviewController,
    AttendeesController,
    PaymentsController,
    MembersController,
    AccountsController,
    ActivityController,
    UsersController,
    WelcomeController,
]
