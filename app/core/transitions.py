"""The one shape of a lifecycle table: action -> Transition(statuses it may start from, status it leads to).

Invoices, contracts and time entries each declare one `Lifecycle`; a write names its action, filters on
`lifecycle.where(action)` so that of two racing requests at most one moves the document, and an action the
current status does not allow is refused with 409 invalid_state (or the area's more precise 409).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The target of an action that removes the document.
DELETED = "deleted"


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str | None = None  # None: the status stays what it was (an edit, a part payment)


class Lifecycle:
    def __init__(self, transitions: Mapping[str, Transition]) -> None:
        self._transitions = dict(transitions)

    def allows(self, status: str, action: str) -> bool:
        return status in self._transitions[action].sources

    def sources(self, action: str) -> list[str]:
        """The statuses `action` may start from: the status filter of its atomic write."""
        return list(self._transitions[action].sources)

    def target(self, action: str, status: str | None = None) -> str:
        """The status after `action` (taken from `status`, for an action that keeps the status)."""
        target = self._transitions[action].target or status
        assert target is not None, f"{action} keeps the status: name the one it starts from"
        return target

    def where(self, action: str, field: str = "status") -> dict[str, Any]:
        """The filter that lets a conditional write move only a document `action` may start from."""
        return {field: {"$in": self.sources(action)}}
