"""The recorder: a source's batches appended to the spool atomically, resumed after a restart
from the last cursor written (nothing recorded twice, nothing skipped)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from adapters.source import MarketSource
from orchestration.spool import UNREADABLE, Spool


class SettingsChanged(ValueError):
    """A recording resumed with settings other than the spool's."""


@dataclass(frozen=True)
class RecordResult:
    """What one recorder run wrote."""

    batches: int
    skipped: int
    rows: int


async def record(
    source: MarketSource, spool: Spool, day: dt.date, *, speed: float, interval_s: float
) -> RecordResult:
    """Spool the live batches of ``source`` for ``day`` until the source ends.

    A batch's cursor is its position in the source's stream. A source that replays the
    day from its start (synthetic, files) skips, on a restart, the batches up to the last
    spooled cursor, so a resumed recording continues exactly where it stopped. A
    real-time feed continues instead (:meth:`~adapters.source.MarketSource.resumed`, from
    the last batch's ``resume`` where it can replay), its positions numbered on. A position
    means the same rows only for the same source, universe and interval: those settings go
    into every manifest, and a restart with others is refused before anything is recorded.

    Raises
    ------
    SettingsChanged
        When the day's spool was recorded with other settings.
    """
    spool.sweep(day)
    # A batch whose manifest is damaged says nothing of where the recording was: resumed
    # after the last readable one, its positions are recorded again (landing is idempotent).
    readable = [b for b in spool.batches(day) if UNREADABLE not in b.manifest]
    last = readable[-1] if readable else None
    settings = {"source": source.name, "universe": source.universe(), "interval_s": interval_s}
    recorded = None if last is None else last.manifest.get("settings")
    if recorded is not None and recorded != settings:
        changed = ", ".join(
            f"{k} {recorded.get(k)!r} -> {settings[k]!r}"
            for k in settings
            if recorded.get(k) != settings[k]
        )
        raise SettingsChanged(
            f"spool {spool.root} holds {day} recorded with other settings ({changed}): resume "
            "with the same source, underlyings and --interval, or record into another --spool"
        )
    resume_after = -1 if last is None or last.cursor is None else last.cursor
    replays = source.replays_day
    if last is not None and not replays:
        source = source.resumed(last.manifest.get("resume"), int(last.manifest["created_ns"]))
    written = skipped = rows = 0
    position = -1 if replays else resume_after
    async for batch in source.live(day, speed=speed, interval_s=interval_s):
        position += 1
        if replays and position <= resume_after:
            skipped += 1
            continue
        spool.append(day, batch, source=source.name, cursor=position, settings=settings)
        written += 1
        rows += batch.rows
    return RecordResult(written, skipped, rows)
