"""Benchmark workloads: synthetic days sized by option or equity prints, landed into a lake."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from adapters.schema import STREAMS
from adapters.source import Batch
from adapters.synthetic.market import SyntheticSpec, iter_day
from adapters.synthetic.universe import select_underlyings
from assets.landing import land_batches
from lake import Lake

DAY = dt.date(2026, 11, 24)
#: Option prints / equity prints of a whole-universe day at scale 1 (measured, see
#: docs/synthetic.md).
OPTION_PRINTS_PER_SCALE = 880_000
EQUITY_PRINTS_PER_SCALE = 2_040_000


@dataclass(frozen=True)
class Workload:
    """A benchmark day: ``kind`` is ``option`` or ``equity``; ``prints`` its target size."""

    kind: str
    prints: int
    underlyings: str = "ALL"

    @property
    def name(self) -> str:
        """Return e.g. ``option-1M``."""
        size = f"{self.prints / 1e6:g}M" if self.prints >= 1_000_000 else f"{self.prints // 1000}k"
        return f"{self.kind}-{size}"

    def spec(self) -> SyntheticSpec:
        """Return the synthetic spec that yields about ``prints`` prints of the workload's kind."""
        symbols = tuple(select_underlyings(self.underlyings))
        share = len(symbols) / 506
        if self.kind == "option":
            return SyntheticSpec(
                date=DAY,
                underlyings=symbols,
                scale=self.prints / OPTION_PRINTS_PER_SCALE / share,
                equity_scale=0.02,
            )
        return SyntheticSpec(
            date=DAY,
            underlyings=symbols,
            scale=0.01,
            equity_scale=self.prints / EQUITY_PRINTS_PER_SCALE / share,
        )


def generate(workload: Workload, work: Path) -> dict[str, int]:
    """Write the workload's raw rows as canonical Parquet parts under ``work/<stream>/``."""
    rows: dict[str, int] = {}
    for k, part in enumerate(iter_day(workload.spec(), chunk=64)):
        for stream, frame in part.tables.items():
            folder = work / stream
            folder.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(folder / f"part-{k:04d}.parquet")
            rows[stream] = rows.get(stream, 0) + frame.height
    return rows


def land_parts(work: Path, lake: Lake) -> int:
    """Land every generated part as the landing asset lands a day: one job, each part
    validated, checked against what is stored and written, one commit per table."""
    parts = (
        Batch(streams={stream: pl.read_parquet(path)})
        for stream in STREAMS
        for path in sorted((work / stream).glob("part-*.parquet"))
    )
    return sum(land_batches(lake, parts, DAY).landed.values())
