"""Databento sources: local DBN files and the historical API, as canonical batches."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import databento as db
import polars as pl
from databento.common.error import BentoWarning

from adapters.databento.config import DatabentoConfig
from adapters.databento.parsing import apply_definitions, parse
from adapters.source import Batch, MarketSource

DBN_SUFFIXES = (".dbn", ".dbn.zst")


#: Schemas whose records are prints.
TRADE_SCHEMAS = {db.Schema.TRADES, db.Schema.TBBO, db.Schema.TCBBO}

#: What databento warns when a DBN stream ends inside a record.
TRUNCATED = "truncated"


def _parse_whole(store: db.DBNStore, name: str) -> dict[str, pl.DataFrame]:
    """Return :func:`parse` of ``store``, refusing a stream that ends inside a record.

    databento decodes the whole records of a cut file and only warns about the rest: the
    file would land as if whole, less its last records.

    Raises
    ------
    ValueError
        For a truncated stream, naming ``name``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BentoWarning)
        parsed = parse(store)
    for warning in caught:
        if issubclass(warning.category, BentoWarning) and TRUNCATED in str(warning.message):
            raise ValueError(f"{name}: DBN file is truncated (it ends inside a record)")
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return parsed


def load_stores(stores: Iterable[db.DBNStore], names: Iterable[str] | None = None) -> Batch:
    """Return one batch from DBN stores: definitions fill option multipliers and underlyings.

    ``names`` (file paths, requests) name the stores in errors.

    Raises
    ------
    ValueError
        When a store's stream is truncated.
    """
    parts: dict[str, list[pl.DataFrame]] = {}
    labels = iter(names) if names is not None else None
    printing: dict[str, dict[str, str]] = {}  # dataset -> schema -> a store carrying prints
    for i, store in enumerate(stores):
        name = next(labels) if labels is not None else f"DBN stream {i}"
        if store.schema in TRADE_SCHEMAS:
            printing.setdefault(str(store.dataset), {})[str(store.schema)] = name
        for stream, frame in _parse_whole(store, name).items():
            parts.setdefault(stream, []).append(frame)
    for dataset, schemas in printing.items():
        if "tcbbo" in schemas and len(schemas) > 1:
            # A tcbbo record has no sequence number, so its prints cannot carry the ids the
            # trades and tbbo records give the same prints: landed together, each would count
            # twice.
            raise ValueError(
                f"{dataset}: {' and '.join(sorted(schemas.values()))} carry the same prints "
                "(tcbbo under other ids): ingest tcbbo or trades/tbbo, not both"
            )
    merged = {k: pl.concat(v, how="diagonal_relaxed") for k, v in parts.items()}
    contracts = merged.pop("option_contracts", None)
    if "option_trades" in merged:
        merged["option_trades"] = apply_definitions(merged["option_trades"], contracts)
    return Batch(streams=merged)


def dbn_days(path: str | Path) -> list[dt.date]:
    """Return the trading days a DBN file holds, from its metadata: the sessions whose
    accepted window meets the file's ``[start, end)`` (options: the regular session,
    equities: 04:00-20:00 New York). A file without an end (a live capture) is read for
    its last record's time.

    Raises
    ------
    ValueError
        For a file that cannot be read as DBN, naming it.
    """
    from adapters.calendar import sessions_meeting

    try:
        store = db.DBNStore.from_file(path)
        meta = store.metadata
        start, end = int(meta.start), meta.end
        if end is None or int(end) >= 2**63:
            times = store.to_ndarray()["ts_event"] if store.nbytes else []
            end = int(max(times)) + 1 if len(times) else start
    except (OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a readable DBN file: {exc}") from exc
    kind = "option" if str(meta.dataset).startswith("OPRA") else "equity"
    return sessions_meeting(start, int(end), kind)


def is_dbn(path: str | Path) -> bool:
    """Return True for a ``.dbn`` or ``.dbn.zst`` file name."""
    return str(path).lower().endswith(DBN_SUFFIXES)


@dataclass(frozen=True)
class DatabentoFiles(MarketSource):
    """DBN files on disk (``.dbn`` / ``.dbn.zst``), any schemas, read with ``DBNStore.from_file``."""

    paths: tuple[str, ...]
    name: str = "databento-files"

    def universe(self) -> str:
        """Return the files replayed."""
        return "databento files " + " ".join(str(Path(p).resolve()) for p in self.paths)

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """Yield the files' rows as one batch (landing keeps the rows of ``day``)."""
        for path in self.paths:
            if not Path(path).is_file():
                raise ValueError(f"{path}: no such DBN file")
        yield load_stores((db.DBNStore.from_file(p) for p in self.paths), self.paths)


@dataclass(frozen=True)
class DatabentoHistorical(MarketSource):
    """The historical API (``Historical.timeseries.get_range``) for one trading day."""

    config: DatabentoConfig = field(default_factory=DatabentoConfig)
    name: str = "databento"

    def client(self) -> db.Historical:
        """Return a client for the configured key and gateway."""
        key = self.config.key()
        return (
            db.Historical(key=key, gateway=self.config.gateway)
            if self.config.gateway
            else db.Historical(key=key)
        )

    def historical(self, day: dt.date) -> Iterator[Batch]:
        """Yield one batch per dataset: every configured schema of ``day``."""
        client = self.client()
        symbols = dict(self.config.symbols)
        stype_in = dict(self.config.stype_in)
        for dataset, schemas in self.config.datasets:
            stores = [
                client.timeseries.get_range(
                    dataset=dataset,
                    schema=schema,
                    symbols=list(symbols.get(dataset, ("ALL_SYMBOLS",))),
                    stype_in=stype_in.get(dataset, "raw_symbol"),
                    start=day.isoformat(),
                    end=(day + dt.timedelta(days=1)).isoformat(),
                )
                for schema in schemas
            ]
            yield load_stores(stores, (f"{dataset} {schema} of {day}" for schema in schemas))
