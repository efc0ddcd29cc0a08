from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from app.core.money import check_decimal, check_money, format_rate
from app.db.pagination import Page
from app.http.mapping import GIVEN, Mapped, Source, cents
from app.http.schemas import BaseStruct, MoneyOut, ObjectIdStr, ResponseStruct, Text, component, not_blank
from app.projects.models import Project

ProjectName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ProjectStatus(StrEnum):
    """Only active projects accept new time."""

    ACTIVE = "active"
    COMPLETED = "completed"
    ARCHIVED = "archived"


MAX_BUDGET_HOURS = Decimal(1_000_000)
HoursOut = Annotated[str, msgspec.Meta(description="Hours as a decimal string", examples=["120", "37.5"])]


def _check_budget(hours: Decimal) -> Decimal:
    return check_decimal(hours, "budget_hours", maximum=MAX_BUDGET_HOURS, places=2)


class ProjectCreate(BaseStruct):
    client_id: ObjectIdStr
    name: ProjectName
    description: Text = ""
    status: ProjectStatus = ProjectStatus.ACTIVE
    hourly_rate: Decimal = Decimal("0.00")
    budget_hours: Decimal | None = None

    def __post_init__(self) -> None:
        self.name = not_blank(self.name, "name")
        check_money(self.hourly_rate, "hourly_rate")
        if self.budget_hours is not None:
            _check_budget(self.budget_hours)


class ProjectUpdate(BaseStruct):
    """client_id may change only while nothing references the project (else 409 in_use)."""

    client_id: ObjectIdStr | UnsetType = UNSET
    name: ProjectName | UnsetType = UNSET
    description: Text | UnsetType = UNSET
    status: ProjectStatus | UnsetType = UNSET
    hourly_rate: Decimal | UnsetType = UNSET
    budget_hours: Decimal | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if self.name is not UNSET:
            self.name = not_blank(self.name, "name")
        if self.hourly_rate is not UNSET:
            check_money(self.hourly_rate, "hourly_rate")
        if self.budget_hours is not UNSET and self.budget_hours is not None:
            _check_budget(self.budget_hours)


class ProjectOut(ResponseStruct, Mapped):
    id: str
    client_id: str
    name: str
    description: str
    status: ProjectStatus
    hourly_rate: MoneyOut
    currency: str
    budget_hours: HoursOut | None
    created_at: datetime
    updated_at: datetime

    SOURCE = Source(Project, client_id=str, hourly_rate=cents("hourly_rate_cents"), budget_hours=format_rate)


ProjectPage = Annotated[Page[ProjectOut], component("ProjectPage")]


class ProjectDetailOut(ProjectOut):
    """A project with its tracked time: all stopped entries, and the billable ones not yet invoiced."""

    tracked_seconds: int
    unbilled_seconds: int

    SOURCE = ProjectOut.SOURCE.extended(tracked_seconds=GIVEN, unbilled_seconds=GIVEN)

    @classmethod
    def with_totals(cls, project: Project, tracked_seconds: int, unbilled_seconds: int) -> ProjectDetailOut:
        return cls.from_document(project, tracked_seconds=tracked_seconds, unbilled_seconds=unbilled_seconds)
