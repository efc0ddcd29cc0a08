"""A render that never ends, for the rendering processes (imported there by name, so stdlib only)."""

from __future__ import annotations

import threading
from typing import Any


def hang(*_: Any) -> None:
    threading.Event().wait()
