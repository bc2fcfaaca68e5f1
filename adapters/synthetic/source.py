"""The synthetic market as a :class:`adapters.source.MarketSource`: history and live replay."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace

from adapters.source import Batch, MarketSource, paced, slice_by_time
from adapters.synthetic.market import SyntheticSpec, generate_day, iter_day, session_window

NS = 1_000_000_000


@dataclass(frozen=True)
class SyntheticMarket(MarketSource):
    """Deterministic synthetic market for a spec (its ``date`` is replaced per call)."""

    spec: SyntheticSpec
    chunk: int = 16
    name: str = "synthetic"

    def universe(self) -> str:
        """Return the spec that decides the day's rows (its date aside)."""
        s = self.spec
        return (
            f"synthetic seed={s.seed} underlyings={','.join(s.underlyings)} "
            f"minutes={s.minutes or 'all'} scale={s.scale}"
        )

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """Yield the day ``chunk`` underlyings at a time (with their labels)."""
        for part in iter_day(replace(self.spec, date=day), self.chunk):
            yield Batch(streams=part.tables, labels=part.labels)

    def time_slices(self, day: dt.date, interval_s: float) -> Iterator[tuple[int, Batch]]:
        """Yield ``(window end ns, batch)``: the day in time order, ``interval_s`` of market time each."""
        spec = replace(self.spec, date=day)
        whole = generate_day(spec)
        start, end = session_window(spec)
        yield from slice_by_time(
            Batch(streams=whole.tables, labels=whole.labels), start, end, int(interval_s * NS)
        )

    async def live(
        self, day: dt.date, *, speed: float = 1.0, interval_s: float = 1.0
    ) -> AsyncIterator[Batch]:
        """Emit the day in time order; ``speed`` 1 is real time, 0 as fast as possible."""
        start, _ = session_window(replace(self.spec, date=day))
        async for batch in paced(self.time_slices(day, interval_s), start, speed):
            yield batch
