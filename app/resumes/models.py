from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from app.db.indexes import sort_indexes
from app.db.outbox import OUTBOX_INDEX
from app.db.repository import OwnedDocument


class StoredExperience(BaseModel):
    company: str | None = None
    title: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    highlights: list[str] = Field(default_factory=list)


class StoredEducation(BaseModel):
    institution: str | None = None
    degree: str | None = None
    start_date: date | None = None
    end_date: date | None = None


class StoredProfile(BaseModel):
    full_name: str | None = None
    headline: str | None = None
    email: str | None = None
    phone: str | None = None
    location: str | None = None
    summary: str | None = None
    skills: list[str] = Field(default_factory=list)
    experience: list[StoredExperience] = Field(default_factory=list)
    education: list[StoredEducation] = Field(default_factory=list)


class Resume(OwnedDocument):
    title: str
    target_role: str | None = None
    profile: StoredProfile = Field(default_factory=StoredProfile)
    content: str = ""
    source: str = "manual"  # "manual" or "ai"
    model: str | None = None  # the model that wrote `content` when source is "ai"

    class Settings:
        name = "resumes"
        indexes = [
            *sort_indexes("created_at", "title", "updated_at"),
            OUTBOX_INDEX,
        ]
