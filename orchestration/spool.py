"""The spool: where the live recorder leaves batches for the landing sensor.

Layout: ``<root>/<YYYY-MM-DD>/<seq:010d>/`` holding one Parquet file per stream and a
``manifest.json`` (batch id, sequence, source, source cursor, row counts). A batch is
written into a hidden temporary folder, every file fsynced, then renamed into place in
one step, so a reader sees a whole batch or none, and a crash mid-write leaves only a
temporary folder that is swept on the next start. ``seq`` numbers batches per day from 0.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from adapters.source import Batch

SPOOL_ENV = "FLOWLAKE_SPOOL"
DEFAULT_SPOOL = "data/spool"
MANIFEST = "manifest.json"
LABELS = "synthetic_labels"
#: The manifest key of a batch whose manifest could not be read (and why).
UNREADABLE = "unreadable"


class SpoolDamaged(ValueError):
    """A spooled batch that cannot be read whole."""


@dataclass(frozen=True)
class SpooledBatch:
    """One batch in the spool."""

    day: dt.date
    seq: int
    path: Path
    manifest: dict[str, Any]

    @property
    def cursor(self) -> int | None:
        """Return the source position recorded with the batch (None for live-only sources)."""
        value = self.manifest.get("cursor")
        return None if value is None else int(value)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Spool:
    """A spool directory."""

    root: Path

    @classmethod
    def from_env(cls, override: str | None = None) -> Spool:
        """Return the spool at ``override`` / ``FLOWLAKE_SPOOL`` / ``data/spool``."""
        return cls(Path(override or os.environ.get(SPOOL_ENV) or DEFAULT_SPOOL).resolve())

    def _day_dir(self, day: dt.date) -> Path:
        return self.root / day.isoformat()

    def sweep(self, day: dt.date) -> int:
        """Remove temporary folders a crashed writer left behind; return how many."""
        folder = self._day_dir(day)
        stale = list(folder.glob(".tmp-*")) if folder.is_dir() else []
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return len(stale)

    def batches(self, day: dt.date, after: int = -1) -> list[SpooledBatch]:
        """Return the day's complete batches with ``seq > after``, in order."""
        folder = self._day_dir(day)
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()):
            seq = int(path.name)
            if seq > after and (path / MANIFEST).is_file():
                try:
                    manifest = json.loads((path / MANIFEST).read_text())
                except (OSError, ValueError) as exc:
                    # Written whole and renamed into place, a manifest is damaged only by
                    # hand or by the disk: the batch is listed, and reading it says why.
                    manifest = {UNREADABLE: f"{MANIFEST}: {exc}"}
                out.append(SpooledBatch(day, seq, path, manifest))
        return out

    def days(self) -> list[dt.date]:
        """Return the days that have a spool folder, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(
            dt.date.fromisoformat(p.name)
            for p in self.root.iterdir()
            if p.is_dir() and len(p.name) == 10
        )

    def last(self, day: dt.date) -> SpooledBatch | None:
        """Return the day's newest complete batch."""
        found = self.batches(day)
        return found[-1] if found else None

    def append(
        self,
        day: dt.date,
        batch: Batch,
        *,
        source: str,
        cursor: int | None = None,
        settings: dict[str, Any] | None = None,
    ) -> SpooledBatch:
        """Write ``batch`` as the day's next sequence number, atomically; return it.

        ``settings`` (what the recording covers, see :func:`orchestration.live.record`) go
        into the manifest with the ``cursor`` and the batch's ``resume``.

        Raises
        ------
        OSError
            When the disk is full or the spool is not writable (with the path in it).
        """
        folder = self._day_dir(day)
        folder.mkdir(parents=True, exist_ok=True)
        last = self.last(day)
        seq = 0 if last is None else last.seq + 1
        tmp = folder / f".tmp-{seq:010d}-{uuid.uuid4().hex}"
        tmp.mkdir()
        rows: dict[str, int] = {}
        try:
            frames = dict(batch.streams)
            if batch.labels is not None:
                frames[LABELS] = batch.labels
            for name, frame in frames.items():
                target = tmp / f"{name}.parquet"
                frame.write_parquet(target)
                with open(target, "rb") as handle:
                    os.fsync(handle.fileno())
                rows[name] = frame.height
            manifest = {"batch_id": uuid.uuid4().hex, "seq": seq, "day": day.isoformat(), "source": source,
                        "cursor": cursor, "resume": batch.resume, "created_ns": time.time_ns(), "rows": rows,
                        "settings": settings}  # fmt: skip
            with open(tmp / MANIFEST, "w", encoding="utf-8") as handle:
                json.dump(manifest, handle)
                handle.flush()
                os.fsync(handle.fileno())
            _fsync_dir(tmp)
            final = folder / f"{seq:010d}"
            os.rename(tmp, final)
            _fsync_dir(folder)
        except (OSError, pl.exceptions.PolarsError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            # Disk full, permissions, ...: one clear error naming the spool; nothing half-written stays.
            raise OSError(
                f"spool {self.root}: could not write batch {seq} of {day}: {exc}"
            ) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return SpooledBatch(day, seq, final, manifest)

    def read(self, spooled: SpooledBatch) -> Batch:
        """Return the batch stored at ``spooled``.

        Raises
        ------
        SpoolDamaged
            When a file of the batch is missing or cannot be read (a disk fault, a file
            cut short by hand), naming the batch and the file.
        """
        if UNREADABLE in spooled.manifest:
            raise SpoolDamaged(
                f"spool batch {spooled.seq} of {spooled.day} is damaged: {spooled.manifest[UNREADABLE]}"
            )
        frames = {}
        for name in spooled.manifest.get("rows") or {}:
            path = spooled.path / f"{name}.parquet"
            try:
                frames[name] = pl.read_parquet(path)
            except (OSError, pl.exceptions.PolarsError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise SpoolDamaged(
                    f"spool batch {spooled.seq} of {spooled.day} is damaged: {path.name}: {reason}"
                ) from exc
        labels = frames.pop(LABELS, None)
        return Batch(streams=frames, labels=labels)
