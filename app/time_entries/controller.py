from __future__ import annotations

from litestar import Controller


class TimeEntryController(Controller):
    path = "/time-entries"
    tags = ["time-entries"]
