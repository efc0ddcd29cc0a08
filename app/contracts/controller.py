from __future__ import annotations

from litestar import Controller


class ContractController(Controller):
    path = "/contracts"
    tags = ["contracts"]
