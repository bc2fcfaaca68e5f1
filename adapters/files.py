"""Canonical Parquet/CSV files in, for any user data (validated and quarantined on landing)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from adapters.schema import STREAMS

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
                # Bytes that are not UTF-8 become U+FFFD instead of failing the whole file:
                # the row they are in then breaks a symbol rule and goes to quarantine.
                return pl.read_csv(source, infer_schema=False, encoding="utf8-lossy")
            case other:
                raise ValueError(
                    f"{source}: unsupported file type {other!r} (use .parquet or .csv)"
                )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ValueError(f"{source}: unreadable: {exc}") from exc


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


def read_directory(folder: str | Path) -> dict[str, pl.DataFrame]:
    """Return every canonical file in ``folder`` keyed by stream (files of one stream concatenated)."""
    frames: dict[str, list[pl.DataFrame]] = {}
    for file in sorted(Path(folder).iterdir()):
        if file.suffix.lower() in SUFFIXES and file.name.split(".")[0] in STREAMS:
            frames.setdefault(stream_of(file), []).append(read_canonical(file))
    return {k: pl.concat(v, how="diagonal_relaxed") for k, v in frames.items()}
