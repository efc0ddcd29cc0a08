from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from app.core.clock import check_date_order
from app.db.pagination import Page
from app.http import mapping
from app.http.schemas import BaseStruct, ResponseStruct, component, not_blank
from app.resumes.models import Resume

MAX_CONTENT = 100_000
MAX_JOB_DESCRIPTION = 20_000
MAX_PROFILE_BYTES = 50_000

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Line = Annotated[str, msgspec.Meta(max_length=200)]
Email = Annotated[str, msgspec.Meta(max_length=254)]
Phone = Annotated[str, msgspec.Meta(max_length=64)]
Summary = Annotated[str, msgspec.Meta(max_length=5_000)]
Skill = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Highlight = Annotated[str, msgspec.Meta(min_length=1, max_length=1_000)]
Content = Annotated[str, msgspec.Meta(max_length=MAX_CONTENT, description="Markdown")]
JobDescription = Annotated[str, msgspec.Meta(max_length=MAX_JOB_DESCRIPTION)]
Tone = Literal["professional", "friendly", "concise"]
Source = Literal["manual", "ai"]


class Experience(BaseStruct):
    company: Line | None = None
    title: Line | None = None
    start_date: date | None = None
    end_date: date | None = None  # null: the current position
    highlights: Annotated[list[Highlight], msgspec.Meta(max_length=20)] = []

    def __post_init__(self) -> None:
        check_date_order(self.start_date, self.end_date, "start_date", "end_date")


class Education(BaseStruct):
    institution: Line | None = None
    degree: Line | None = None
    start_date: date | None = None
    end_date: date | None = None

    def __post_init__(self) -> None:
        check_date_order(self.start_date, self.end_date, "start_date", "end_date")


class Profile(BaseStruct):
    full_name: Line | None = None
    headline: Line | None = None
    email: Email | None = None
    phone: Phone | None = None
    location: Line | None = None
    summary: Summary | None = None
    skills: Annotated[list[Skill], msgspec.Meta(max_length=100)] = []
    experience: Annotated[list[Experience], msgspec.Meta(max_length=50)] = []
    education: Annotated[list[Education], msgspec.Meta(max_length=20)] = []


class GenerationProfile(Profile):
    """A profile to write from: the candidate's name is required."""

    full_name: Line

    def __post_init__(self) -> None:
        self.full_name = not_blank(self.full_name, "full_name")


class ResumeCreate(BaseStruct):
    title: Title
    target_role: Line | None = None
    profile: Profile = msgspec.field(default_factory=Profile)
    content: Content = ""

    def __post_init__(self) -> None:
        self.title = not_blank(self.title, "title")


class ResumeUpdate(BaseStruct):
    title: Title | UnsetType = UNSET
    target_role: Line | UnsetType | None = UNSET
    profile: Profile | UnsetType = UNSET
    content: Content | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.title is not UNSET:
            self.title = not_blank(self.title, "title")


class ResumeGenerate(BaseStruct):
    profile: GenerationProfile
    title: Title | None = None
    target_role: Line | None = None
    job_description: JobDescription | None = None
    tone: Tone = "professional"

    def __post_init__(self) -> None:
        if self.title is not None:
            self.title = not_blank(self.title, "title")
        if self.target_role is not None:
            self.target_role = self.target_role.strip() or None  # a blank role is no role
        if self.job_description is not None and "</job_description" in self.job_description.lower():
            raise ValueError("job_description: must not contain the tag </job_description>")
        if len(msgspec.json.encode(self.profile)) > MAX_PROFILE_BYTES:
            raise ValueError(f"profile: too large to write from (over {MAX_PROFILE_BYTES} bytes as JSON)")


class ResumeOut(ResponseStruct, mapping.Mapped):
    id: str
    title: str
    target_role: str | None
    profile: Profile
    content: str
    source: Source
    model: str | None
    created_at: datetime
    updated_at: datetime

    SOURCE = mapping.Source(Resume)


ResumePage = Annotated[Page[ResumeOut], component("ResumePage")]
