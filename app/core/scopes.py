"""What an API key may do (API.md section 20): `<resource>:read|write` scopes, `write` implying `read`, or
`*` (everything an admin may, except managing API keys, members and invitations).

Each route declares the scope it needs beside its least role (http/tenancy.py `requires`): a resource (read
or write from its method, or named), `EVERYTHING` (only `*` covers it), `ANY_KEY` (any key: reading the
organisation) or `NO_KEY` (never a key: keys, members, invitations, timers, the user's own routes).
"""

from __future__ import annotations

from typing import Literal, get_args

RESOURCES = (
    "clients",
    "projects",
    "time_entries",
    "invoices",
    "contracts",
    "resumes",
    "reports",
    "events",
    "webhooks",
)
Access = Literal["read", "write"]
EVERYTHING = "*"
ANY_KEY = "any_key"
NO_KEY = "no_key"
SPECIAL = (EVERYTHING, ANY_KEY, NO_KEY)
# What a key may be given: the input's enum (written out: a type checker reads no computed Literal).
Scope = Literal[
    "clients:read",
    "clients:write",
    "projects:read",
    "projects:write",
    "time_entries:read",
    "time_entries:write",
    "invoices:read",
    "invoices:write",
    "contracts:read",
    "contracts:write",
    "resumes:read",
    "resumes:write",
    "reports:read",
    "reports:write",
    "events:read",
    "events:write",
    "webhooks:read",
    "webhooks:write",
    "*",
]
KNOWN: frozenset[str] = frozenset(get_args(Scope))


def needed(declared: str, access: Access) -> str:
    """The scope a route needs: `clients` on a read is `clients:read`; the special values stay as they are."""
    return declared if declared in SPECIAL else f"{declared}:{access}"


def covers(granted: frozenset[str], need: str) -> bool:
    """Whether a key with `granted` may do what needs `need` (`write` implies `read`; `*` all but NO_KEY)."""
    if need == NO_KEY:
        return False
    if need == ANY_KEY or EVERYTHING in granted:
        return True
    resource, _, access = need.partition(":")
    return need in granted or (access == "read" and f"{resource}:write" in granted)
