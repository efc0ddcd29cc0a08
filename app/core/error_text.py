"""Error texts as they are stored (a delivery's attempts, an e-mail's `last_error`, a job's log): one bound,
so no reply a receiver or a server sends can grow a stored log without limit (API.md section 24)."""

from __future__ import annotations

LIMIT = 500
_CUT_MARK = "…"


def cut(text: str) -> str:
    """`text`, at most LIMIT characters; a longer one ends with "…" so that a reader sees it was cut."""
    return text if len(text) <= LIMIT else text[: LIMIT - len(_CUT_MARK)] + _CUT_MARK


def describe(error: BaseException) -> str:
    """`Type: message` (the type alone when the message is empty), cut."""
    return cut(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
