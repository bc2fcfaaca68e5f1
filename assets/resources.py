"""Dagster resources: the lake and the thresholds file (the market-data sources are in
:mod:`assets.sources`)."""

from __future__ import annotations

import datetime as dt
import json
import time

import dagster as dg
import polars as pl
from pydantic import Field

from adapters.schema import landed_schema
from assets.scope import bucket_members, row_scope
from assets.thresholds import Thresholds, load_thresholds
from lake import Lake
from lake.location import resolve_lake_root
from lake.read import scan
from lake.write import RowScope, WriteResult, land, overwrite_partition, upsert


class LakeResource(dg.ConfigurableResource):
    """The lake root (``FLOWLAKE_LAKE`` or ``data/lake`` when not configured)."""

    root: str = Field(
        default="", description="Lake root path or URI; empty: FLOWLAKE_LAKE / data/lake"
    )
    bucket: int = Field(
        default=-1,
        description="Set by date x bucket runs (orchestration/buckets.py); -1: whole days",
    )
    members: list[str] = Field(
        default_factory=list, description="The underlyings of ``bucket`` (set with it)"
    )
    checks_per_asset: bool = Field(
        default=True,
        description=(
            "Write each asset's check outcomes to asset_checks as it finishes; False when the "
            "caller records the whole run's outcomes in one commit (live tails, see "
            "orchestration/live/tail.py::build_tail)"
        ),
    )

    def lake(self) -> Lake:
        """Return the configured :class:`lake.Lake`."""
        return Lake(resolve_lake_root(self.root or None))

    def scoped_to(self, context: dg.AssetExecutionContext) -> LakeResource:
        """Return this lake as one run sees it: all of it, or one bucket's underlyings when
        the run's partition is (date, bucket)."""
        key = context.partition_key
        if not isinstance(key, dg.MultiPartitionKey):
            return self
        day = dt.date.fromisoformat(key.keys_by_dimension["date"])
        bucket = int(key.keys_by_dimension["bucket"])
        members = bucket_members(self.lake(), day, bucket)
        return LakeResource(
            root=self.root, bucket=bucket, members=members, checks_per_asset=self.checks_per_asset
        )

    def _owned(self, table: str, frame: pl.LazyFrame) -> pl.LazyFrame:
        if self.bucket < 0:
            return frame
        return frame.filter(row_scope(table, self.members).rows())

    def _scope(self, table: str) -> RowScope | None:
        return None if self.bucket < 0 else row_scope(table, self.members)

    def find_day(self, table: str, day: dt.date) -> pl.LazyFrame | None:
        """Return one day of ``table`` (this run's rows of it), or None when it does not exist."""
        frame = scan(self.lake(), table, dates=[day])
        return None if frame is None else self._owned(table, frame)

    def scan_day(self, table: str, day: dt.date) -> pl.LazyFrame:
        """Return one day of a landing table; empty (in its schema) when nothing has landed."""
        frame = self.find_day(table, day)
        return frame if frame is not None else pl.LazyFrame(schema=landed_schema(table))

    def has(self, table: str) -> bool:
        """Return whether ``table`` exists in the lake."""
        return scan(self.lake(), table) is not None

    def require_day(self, table: str, day: dt.date) -> pl.LazyFrame:
        """Return one day of a derived table an asset depends on.

        Raises
        ------
        dagster.Failure
            When the table does not exist yet (its upstream asset was never built).
        """
        frame = self.find_day(table, day)
        if frame is None:
            raise dg.Failure(
                f"{table} does not exist in {self.lake().root}: materialize it for {day} first"
            )
        return frame

    def overwrite(
        self,
        table: str,
        frame: pl.DataFrame,
        day: dt.date,
        checks: list[dg.AssetCheckResult] | None = None,
        clock: str | None = None,
        since_ns: int | None = None,
    ) -> dg.MaterializeResult:
        """Replace the ``day`` partition of ``table`` (only rows with ``clock >= since_ns``
        when ``since_ns`` is given); return the materialization with ``checks``.

        Rows are written in ``clock`` order, so each data file covers a span of the day and
        a live tail rewrites only the files of its span (see :func:`lake.write.overwrite_partition`).
        """
        return self._replace(table, frame, day, None, checks, clock, since_ns)

    def overwrite_version(
        self,
        table: str,
        frame: pl.DataFrame,
        day: dt.date,
        config_version: str,
        checks: list[dg.AssetCheckResult] | None = None,
        clock: str | None = None,
        since_ns: int | None = None,
    ) -> dg.MaterializeResult:
        """Replace the rows of one ``day`` and one ``config_version`` (other versions stay;
        only rows with ``clock >= since_ns`` when ``since_ns`` is given)."""
        where = {"config_version": config_version}
        return self._replace(table, frame, day, where, checks, clock, since_ns)

    def _replace(
        self,
        table: str,
        frame: pl.DataFrame,
        day: dt.date,
        where: dict[str, str] | None,
        checks: list[dg.AssetCheckResult] | None,
        clock: str | None,
        since_ns: int | None,
    ) -> dg.MaterializeResult:
        """Write ``frame`` over the rows of ``day`` that ``where`` and the tail select, record
        the checks, and return the materialization (with the write's wall time)."""
        frame, since = _in_time_order(frame, clock, since_ns)
        started = time.perf_counter()
        result = overwrite_partition(
            self.lake(), table, frame, day, where=where, since=since, scope=self._scope(table)
        )
        written = time.perf_counter() - started
        self.record_checks(table, day, checks or [])
        return dg.MaterializeResult(
            metadata=_metadata(result, written, since), check_results=checks or None
        )

    def record_checks(self, table: str, day: dt.date, checks: list[dg.AssetCheckResult]) -> None:
        """Keep each check's latest outcome in the lake table ``asset_checks`` (the dashboards'
        Pipeline health page reads it; they never open the Dagster instance), unless the
        run's caller records them (``checks_per_asset`` False)."""
        if self.checks_per_asset:
            self.record_outcomes(day, [(table, c) for c in checks])

    def record_outcomes(
        self,
        day: dt.date,
        outcomes: list[tuple[str, dg.AssetCheckResult | dg.AssetCheckEvaluation]],
    ) -> None:
        """Write ``(table, check outcome)`` pairs of ``day`` to ``asset_checks`` in one commit
        (latest wins per check)."""
        if not outcomes:
            return
        checked_ns = time.time_ns()
        rows = [
            {
                "check_key": f"{table}:{c.check_name}"
                + (f":b{self.bucket}" if self.bucket >= 0 else ""),
                "date": day,
                "asset": table,
                "check_name": c.check_name,
                "passed": bool(c.passed),
                "metadata": json.dumps(
                    {k: getattr(v, "value", v) for k, v in (c.metadata or {}).items()}, default=str
                ),
                "checked_ns": checked_ns,
            }
            for table, c in outcomes
        ]
        upsert(self.lake(), "asset_checks", pl.DataFrame(rows), key="check_key")

    def land(self, table: str, frame: pl.DataFrame, key: str = "event_id") -> WriteResult:
        """Idempotently append landing rows (keyed on ``key``)."""
        return land(self.lake(), table, frame, key=key)


def _in_time_order(
    frame: pl.DataFrame, clock: str | None, since_ns: int | None
) -> tuple[pl.DataFrame, tuple[str, int] | None]:
    """Return ``frame`` in ``clock`` order (stable) and the write's ``since`` bound."""
    if clock is None:
        if since_ns is not None:
            raise ValueError("a tail write (since_ns) needs the clock column it is bounded on")
        return frame, None
    ordered = frame.sort(clock, maintain_order=True)
    return ordered, None if since_ns is None else (clock, since_ns)


def _metadata(
    result: WriteResult, write_s: float, since: tuple[str, int] | None = None
) -> dict[str, dg.MetadataValue]:
    """Return a partition write's materialization metadata. ``write_s`` is the wall time of
    the write (Parquet files and Delta commit): how much of a run was storage, which the
    benchmark reports against its floor."""
    tail = (
        {} if since is None else {"tail_since": dg.MetadataValue.text(f"{since[0]} >= {since[1]}")}
    )
    return {
        "rows": dg.MetadataValue.int(result.rows_written),
        "delta_version": dg.MetadataValue.int(result.version),
        "write_s": dg.MetadataValue.float(round(write_s, 3)),
        **tail,
    }


class ThresholdsResource(dg.ConfigurableResource):
    """The thresholds file; its content hash is the ``config_version`` of hits and alerts."""

    path: str = Field(default="", description="TOML thresholds file; empty: the packaged defaults")

    def load(self) -> Thresholds:
        """Return the parsed thresholds."""
        return load_thresholds(self.path or None)
