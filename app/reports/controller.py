from __future__ import annotations

from litestar import Controller


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]
