from __future__ import annotations

from litestar import Controller


class ResumeController(Controller):
    path = "/resumes"
    tags = ["resumes"]
