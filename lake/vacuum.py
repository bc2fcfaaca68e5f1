"""Vacuum: remove the data files no table version needs any longer.

A write killed before its commit leaves data files that no version references, and every
partition overwrite leaves the files of the
version it replaced. Readers never see either, but the disk keeps them until a vacuum.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from lake.location import Lake

#: Below this a vacuum could remove files a running writer has written and is about to
#: commit (a build's longest write takes minutes, not an hour).
MIN_RETENTION_HOURS = 1


@dataclass(frozen=True)
class Vacuumed:
    """What vacuuming one table removed (or, in a dry run, would remove)."""

    table: str
    files: list[str]


def local_tables(lake: Lake) -> list[str]:
    """Return the names of a local lake's tables (folders holding a Delta log)."""
    root = Path(lake.root.removeprefix("file://"))
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "_delta_log").is_dir())


def vacuum(
    lake: Lake, tables: list[str], retention_hours: int | None = None, dry_run: bool = False
) -> list[Vacuumed]:
    """Remove, from each of ``tables``, the files no version within the retention needs:
    files of replaced versions older than the retention, and files never committed (a
    killed writer's) older than it.

    Parameters
    ----------
    retention_hours
        How old a file must be to go; None: each table's own
        ``delta.deletedFileRetentionDuration`` (Delta's default, a week). Time travel to a
        version older than the retention may fail after a vacuum.

    Raises
    ------
    ValueError
        For a retention under :data:`MIN_RETENTION_HOURS`.

    Examples
    --------
    >>> vacuum(Lake("/no/such/lake"), ["option_prints"], dry_run=True)
    []
    """
    if retention_hours is not None and retention_hours < MIN_RETENTION_HOURS:
        raise ValueError(
            f"retention of {retention_hours} h is under {MIN_RETENTION_HOURS} h: files a "
            "running write is about to commit could go"
        )
    out = []
    for table in tables:
        try:
            target = DeltaTable(lake.uri(table), storage_options=lake.storage_options or None)
        except TableNotFoundError:
            continue
        files = target.vacuum(
            retention_hours=retention_hours,
            dry_run=dry_run,
            # The floor above replaces Delta's check, which refuses anything under a week.
            enforce_retention_duration=False,
            full=True,  # files that no commit ever named, not only replaced ones
        )
        out.append(Vacuumed(table, sorted(files)))
    return out
