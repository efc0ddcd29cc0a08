"""The one place that talks to the AI service (OpenAI-compatible Chat Completions)."""

from __future__ import annotations

from app.core.config import Settings


class AIClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def aclose(self) -> None:
        return None
