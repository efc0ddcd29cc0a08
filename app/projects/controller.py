from __future__ import annotations

from litestar import Controller


class ProjectController(Controller):
    path = "/projects"
    tags = ["projects"]
