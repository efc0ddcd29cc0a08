"""Events: written with the change they describe (db/outbox.py), relayed, sequenced, read as a feed."""

from app.events.service import emit, read_after, read_since

__all__ = ["emit", "read_after", "read_since"]
