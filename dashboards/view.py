"""What the user is looking at: the view every page reads (set by the sidebar)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    """What the user is looking at."""

    day: dt.date | None
    ticker: str
    start: dt.time
    end: dt.time
    refresh_seconds: float | None
    #: Set while replaying: every page shows the state as of this New York time.
    as_of: dt.time | None = None
