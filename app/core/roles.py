"""The roles of a membership, each allowing what the one below it does and more (API.md section 19)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    MEMBER = "member"
    BILLING = "billing"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, minimum: Role) -> bool:
        """Whether this role may do what `minimum` may."""
        return self.rank >= minimum.rank


_RANKS = {role: rank for rank, role in enumerate(Role)}
