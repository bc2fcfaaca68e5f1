"""Canonical Parquet/CSV files in, for any user data (validated and quarantined on landing)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from adapters.calendar import is_session, row_date
from adapters.schema import ROW_ERROR, STREAMS

SUFFIXES = (".parquet", ".csv")


def read_canonical(path: str | Path) -> pl.DataFrame:
    """Return the rows of one canonical Parquet or CSV file.

    CSV columns arrive as text where types are ambiguous; the validator casts them and
    quarantines what does not cast, so a malformed cell costs one row, not the file (a
    byte sequence that is not UTF-8 too: it is read as U+FFFD and fails the symbol rules).

    Raises
    ------
    ValueError
        For a missing, unreadable or unsupported file, with the path in the message.
    """
    source = Path(path)
    if not source.is_file():
        raise ValueError(f"{source}: no such file")
    try:
        match source.suffix.lower():
            case ".parquet":
                return pl.read_parquet(source)
            case ".csv":
                return _read_csv(source)
            case other:
                raise ValueError(
                    f"{source}: unsupported file type {other!r} (use .parquet or .csv)"
                )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ValueError(f"{source}: unreadable: {exc}") from exc


def _read_csv(source: Path) -> pl.DataFrame:
    """Return a CSV file's rows as text, each row cut short or too long marked in
    :data:`ROW_ERROR` (one bad row costs that row, not the file).

    A row with fewer fields than the header is what a file cut mid-row ends with: its
    missing cells would read as nulls, and a cut value as a shorter one. A row with more
    fields than the header is misaligned. Fields are counted per line, quoted commas
    aside; a file whose lines are not its rows (a quoted newline) is read as polars reads
    it, unchecked. Bytes that are not UTF-8 become U+FFFD instead of failing the whole
    file: the row they are in then breaks a symbol rule and goes to quarantine.
    """
    rows = pl.read_csv(
        source, infer_schema=False, encoding="utf8-lossy", truncate_ragged_lines=True
    )
    lines = pl.read_csv(
        source,
        has_header=False,
        separator="\x1f",
        quote_char=None,
        new_columns=["line"],
        infer_schema=False,
        encoding="utf8-lossy",
    )
    if lines.height != rows.height + 1:
        return rows
    fields = (
        lines.get_column("line")
        .str.replace_all(r'"[^"]*"', "")
        .str.count_matches(",", literal=True)
        .cast(pl.Int64)
        + 1
    )
    expected = fields[0]
    counts = fields.slice(1)
    if (counts == expected).all():
        return rows
    ragged = counts != expected
    return rows.with_columns(
        pl.when(ragged)
        .then(pl.format("row has {} fields where the header has {}", counts, pl.lit(expected)))
        .alias(ROW_ERROR),
        # The line as read: a field past the header's would otherwise be lost.
        pl.when(ragged).then(lines.get_column("line").slice(1)).alias("_line"),
    )


def stream_of(path: str | Path) -> str:
    """Return the stream a canonical file holds, from its name (``option_trades.parquet``).

    Raises
    ------
    ValueError
        When the file name is not a stream name.
    """
    stem = Path(path).name.split(".")[0]
    if stem not in STREAMS:
        raise ValueError(f"{path}: file name must start with one of {', '.join(STREAMS)}")
    return stem


def canonical_days(paths: list[str]) -> list[dt.date]:
    """Return the trading sessions the rows of canonical files fall on (``ts_event``'s New
    York date; ``date`` for open interest), in order. Rows whose time cannot be read are
    left to the validator.

    Raises
    ------
    ValueError
        For an unreadable file, naming it.
    """
    days: set[dt.date] = set()
    for path in paths:
        frame = read_canonical(path)
        date = row_date(frame.columns)
        if date is not None:
            days.update(frame.select(date.drop_nulls().unique()).to_series().to_list())
    return sorted(d for d in days if is_session(d))


def canonical_files(folder: str | Path) -> list[Path]:
    """Return the canonical files in ``folder`` (named by stream), in name order."""
    return [
        file
        for file in sorted(Path(folder).iterdir())
        if file.suffix.lower() in SUFFIXES and file.name.split(".")[0] in STREAMS
    ]
