"""Where landing gets a day's raw rows from: the market-data sources, and the one registry
the CLI, Dagster and live recording choose them from.

A source is an abstract ``ConfigurableResource`` (:class:`MarketDataSource`) with live and
snapshot implementations (the pattern of Dagster's fully-featured example): the synthetic
market, recorded canonical files, DBN files, and the vendors' historical APIs. A live
recording takes a :class:`adapters.source.MarketSource` instead. :data:`SOURCES` names
every source once, with how to build its history and how to stream it live, from one
:class:`SourceSettings`; a source that cannot be built (a missing key, a bad symbol) is a
:class:`SourceError` naming why, in one line.

A vendor's package is imported when one of its sources is built, not with this module: a
code location or command that never uses a vendor does not pay for its SDK (the layering
test sees these imports too; none hides a cycle).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from adapters.credentials import MissingCredentialError
from adapters.files import canonical_files, read_canonical, stream_of
from adapters.source import Batch, MarketSource, Replayed, rows_of_day
from adapters.synthetic.market import SyntheticSpec
from adapters.synthetic.source import SyntheticMarket
from lake import Lake

if TYPE_CHECKING:
    from adapters.alpaca.config import AlpacaConfig


class MarketDataSource(dg.ConfigurableResource, ABC):
    """Where landing gets a day's raw rows from (a Dagster-configurable :class:`MarketSource`)."""

    @abstractmethod
    def batches(self, day: dt.date) -> Iterator[Batch]:
        """Yield the raw batches of ``day``."""


class SyntheticSource(MarketDataSource):
    """The deterministic synthetic S&P 500 market (the default; needs no account)."""

    seed: int = 7
    underlyings: str = Field(
        default="SPY,QQQ,IWM,AAPL,MSFT,NVDA,AMZN,TSLA", description="Count, comma list or ALL"
    )
    minutes: int = Field(
        default=0, description="Session minutes from the open; 0: the whole session"
    )
    scale: float = 1.0

    def market(self) -> SyntheticMarket:
        """Return the configured synthetic market."""
        from adapters.synthetic.universe import select_underlyings

        spec = SyntheticSpec(
            date=dt.date(2000, 1, 3),  # replaced per call
            seed=self.seed,
            underlyings=tuple(select_underlyings(self.underlyings)),
            minutes=self.minutes or None,
            scale=self.scale,
        )
        return SyntheticMarket(spec)

    def batches(self, day: dt.date) -> Iterator[Batch]:
        return self.market().historical(day)


class SnapshotSource(MarketDataSource):
    """Recorded canonical files: ``<path>/<YYYY-MM-DD>/<stream>.parquet|csv`` (or a flat folder)."""

    path: str

    def batches(self, day: dt.date) -> Iterator[Batch]:
        folder = Path(self.path) / day.isoformat()
        files = canonical_files(folder if folder.is_dir() else Path(self.path))
        return FilesSource(paths=[str(f) for f in files]).batches(day)


class FilesSource(MarketDataSource):
    """Canonical Parquet/CSV files named by stream (``option_trades*.parquet``, ...)."""

    paths: list[str]
    days: list[str] = Field(
        default=[], description="every day this ingest lands: their rows wait for their own run"
    )

    def batches(self, day: dt.date) -> Iterator[Batch]:
        # One batch per file: each is validated on its own, so a file that leaves out an
        # optional column gets that column's default, whatever the others carry (combined
        # first, its rows held nulls there and were quarantined).
        others = [dt.date.fromisoformat(d) for d in self.days]
        for path in self.paths:
            yield rows_of_day(Batch(streams={stream_of(path): read_canonical(path)}), day, others)


class DatabentoFilesSource(MarketDataSource):
    """Local Databento DBN files (``.dbn`` / ``.dbn.zst``) of any supported schema."""

    paths: list[str]
    days: list[str] = Field(
        default=[], description="every day this ingest lands: their rows wait for their own run"
    )

    def batches(self, day: dt.date) -> Iterator[Batch]:
        from adapters.databento.loader import DatabentoFiles

        others = [dt.date.fromisoformat(d) for d in self.days]
        for batch in DatabentoFiles(tuple(self.paths)).historical(day):
            yield rows_of_day(batch, day, others)


class DatabentoSource(MarketDataSource):
    """The Databento historical API (key from ``DATABENTO_API_KEY`` or ``.env``)."""

    options_symbols: list[str] = Field(
        default=["SPY.OPT"], description="OPRA.PILLAR parent symbols"
    )
    equity_symbols: list[str] = Field(
        default=["SPY"], description="raw symbols of the equity datasets (trades and quotes)"
    )
    gateway: str = Field(default="", description="API base URL; empty: Databento's default")

    def batches(self, day: dt.date) -> Iterator[Batch]:
        from adapters.databento.config import DatabentoConfig
        from adapters.databento.loader import DatabentoHistorical

        config = DatabentoConfig(
            symbols=(
                ("OPRA.PILLAR", tuple(self.options_symbols)),
                ("EQUS.PLUS", tuple(self.equity_symbols)),
                ("EQUS.MINI", tuple(self.equity_symbols)),
            ),
            gateway=self.gateway or None,
        )
        return DatabentoHistorical(config).historical(day)


class AlpacaSource(MarketDataSource):
    """Alpaca REST history (keys from ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY`` or ``.env``)."""

    underlyings: list[str] = Field(default=["SPY"])
    contracts: list[str] = Field(default=[], description="Option contracts (Alpaca or OSI symbols)")
    stock_feed: str = Field(default="iex", description="iex | sip")
    rest_url: str = Field(default="", description="Data API base URL; empty: Alpaca's default")
    options_feed: str = Field(default="indicative", description="indicative | opra")
    max_dte: int = Field(default=30, description="without contracts: expiries within this")
    strikes_per_side: int = Field(default=8, description="without contracts: strikes a side")
    moneyness: float = Field(default=0.06, description="without contracts: strike band")
    max_quotes: int = Field(default=200, description="without contracts: at most this many")

    def batches(self, day: dt.date) -> Iterator[Batch]:
        from adapters.alpaca.config import AlpacaConfig
        from adapters.alpaca.loader import AlpacaHistorical

        config = AlpacaConfig(
            underlyings=tuple(self.underlyings),
            contracts=tuple(c.replace(" ", "") for c in self.contracts),
            stock_feed=self.stock_feed,
            rest_url=self.rest_url or None,
            options_feed=self.options_feed,
            max_dte=self.max_dte,
            strikes_per_side=self.strikes_per_side,
            moneyness=self.moneyness,
            max_quotes=self.max_quotes,
        )
        return AlpacaHistorical(config).historical(day)


class SourceError(ValueError):
    """A source that cannot be built as asked: the message says why, in one line."""


#: The underlyings a source follows when none are given.
DEFAULT_SYMBOLS = ("SPY", "QQQ", "IWM", "AAPL", "MSFT", "NVDA", "AMZN", "TSLA")


@dataclass(frozen=True)
class SourceSettings:
    """What a user says about a source (CLI flags, Dagster run config): every source reads
    the fields it needs. ``policy`` holds the chain-slice knobs as given (``max_dte``,
    ``strikes_per_side``, ``moneyness``, ``max_quotes``; None: the settings decide)."""

    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    minutes: int = 0
    seed: int = 7
    scale: float = 1.0
    paths: tuple[str, ...] = ()
    days: tuple[str, ...] = ()
    from_lake: str = ""
    contracts: tuple[str, ...] = ()
    options_feed: str | None = None
    policy: Mapping[str, str | None] = field(default_factory=dict)
    max_lines: str | None = None


def _refusing(build: Callable[[SourceSettings], object]) -> Callable[[SourceSettings], object]:
    """Turn a source's own refusals (a bad value, a missing key) into :class:`SourceError`."""

    def built(settings: SourceSettings) -> object:
        try:
            return build(settings)
        except SourceError:
            raise
        except (ValueError, MissingCredentialError) as exc:
            raise SourceError(str(exc)) from None

    return built


def _synthetic(s: SourceSettings) -> SyntheticSource:
    from adapters.synthetic.universe import select_underlyings

    select_underlyings(",".join(s.symbols))  # an unknown symbol: one line, before any run
    return SyntheticSource(
        seed=s.seed, underlyings=",".join(s.symbols), minutes=s.minutes, scale=s.scale
    )


def _snapshot(s: SourceSettings) -> SnapshotSource:
    if len(s.paths) != 1:
        raise SourceError("source snapshot: give one folder in paths")
    return SnapshotSource(path=s.paths[0])


def _alpaca_config(s: SourceSettings) -> AlpacaConfig:
    """Return Alpaca's config of the settings, its keys checked (history and live alike)."""
    from adapters.alpaca.config import AlpacaConfig

    config = AlpacaConfig.from_settings(
        underlyings=s.symbols,
        contracts=tuple(c.replace(" ", "") for c in s.contracts),
        options_feed=s.options_feed,
        **dict(s.policy),
    )
    config.keys()
    return config


def _alpaca(s: SourceSettings) -> AlpacaSource:
    config = _alpaca_config(s)
    return AlpacaSource(
        underlyings=list(s.symbols), contracts=list(config.contracts),
        stock_feed=config.stock_feed, options_feed=config.options_feed,
        rest_url=config.rest_url or "", max_dte=config.max_dte,
        strikes_per_side=config.strikes_per_side, moneyness=config.moneyness,
        max_quotes=config.max_quotes,
    )  # fmt: skip


def _alpaca_live(s: SourceSettings) -> MarketSource:
    from adapters.alpaca.loader import AlpacaLive

    return AlpacaLive(_alpaca_config(s))


def _databento(s: SourceSettings) -> DatabentoSource:
    from adapters.databento.config import DatabentoConfig

    DatabentoConfig().key()
    return DatabentoSource(
        options_symbols=[f"{x}.OPT" for x in s.symbols], equity_symbols=list(s.symbols)
    )


def _databento_live(s: SourceSettings) -> MarketSource:
    from adapters.databento.config import DatabentoConfig
    from adapters.databento.live import DatabentoLive

    config = DatabentoConfig.for_underlyings(s.symbols)
    config.key()
    return DatabentoLive(config)


def _dbn_files(s: SourceSettings) -> DatabentoFilesSource:
    return DatabentoFilesSource(paths=list(s.paths), days=list(s.days))


def _dbn_replay(s: SourceSettings) -> MarketSource:
    from adapters.databento.loader import DatabentoFiles

    missing = [f for f in s.paths if not Path(f).is_file()]
    if not s.paths or missing:
        listed = f" (missing: {', '.join(missing)})" if missing else ""
        raise SourceError(f"--files: give the day's DBN files{listed}")
    return Replayed(DatabentoFiles(tuple(s.paths)), name="databento-replay")


def _lake_replay(s: SourceSettings) -> MarketSource:
    from lake.replay import LakeDay

    if not s.from_lake:
        raise SourceError("--from-lake: give the lake holding the stored day")
    return Replayed(LakeDay(Lake.from_env(s.from_lake)), name="lake-replay")


def _ibkr_live(s: SourceSettings) -> MarketSource:
    from adapters.ibkr.bridge import IbkrLive
    from adapters.ibkr.config import IbkrConfig

    config = IbkrConfig.from_settings(
        underlyings=s.symbols, contracts=s.contracts, max_lines=s.max_lines, **dict(s.policy)
    )
    return IbkrLive(config)


@dataclass(frozen=True)
class SourceKind:
    """One source: how to build its history (a landing resource) and how to stream it
    live, either None when the source has no such side."""

    historical: Callable[[SourceSettings], MarketDataSource] | None
    live: Callable[[SourceSettings], MarketSource] | None


#: Every source flowlake knows, by the name the CLI, run config and ``flowlake live`` use.
SOURCES: dict[str, SourceKind] = {
    "synthetic": SourceKind(_synthetic, lambda s: _synthetic(s).market()),
    "snapshot": SourceKind(_snapshot, None),
    "files": SourceKind(lambda s: FilesSource(paths=list(s.paths), days=list(s.days)), None),
    "databento-files": SourceKind(_dbn_files, None),
    "databento": SourceKind(_databento, _databento_live),
    "alpaca": SourceKind(_alpaca, _alpaca_live),
    "ibkr": SourceKind(None, _ibkr_live),
    "databento-replay": SourceKind(None, _dbn_replay),
    "lake-replay": SourceKind(None, _lake_replay),
}
HISTORICAL_SOURCES = tuple(n for n, k in SOURCES.items() if k.historical is not None)
LIVE_SOURCES = tuple(n for n, k in SOURCES.items() if k.live is not None)


def historical_source(name: str, settings: SourceSettings) -> MarketDataSource:
    """Return the landing source ``name`` built from ``settings``.

    Raises
    ------
    SourceError
        For an unknown or live-only name, or a source that cannot be built as asked.
    """
    kind = SOURCES.get(name)
    if kind is None or kind.historical is None:
        raise SourceError(
            f"unknown source {name!r}; expected one of {', '.join(HISTORICAL_SOURCES)}"
        )
    return _refusing(kind.historical)(settings)  # type: ignore[return-value]


def live_source(name: str, settings: SourceSettings) -> MarketSource:
    """Return the live stream of source ``name`` built from ``settings`` (as
    :func:`historical_source`)."""
    kind = SOURCES.get(name)
    if kind is None or kind.live is None:
        raise SourceError(
            f"unknown live source {name!r}; expected one of {', '.join(LIVE_SOURCES)}"
        )
    return _refusing(kind.live)(settings)  # type: ignore[return-value]


class SelectableSource(MarketDataSource):
    """The source chosen by name in run config (``resources.source.config.name``): one of
    :data:`HISTORICAL_SOURCES`, built by :func:`historical_source`."""

    name: str = Field(default="synthetic", description=" | ".join(HISTORICAL_SOURCES))
    symbols: list[str] = Field(default=list(DEFAULT_SYMBOLS))
    paths: list[str] = Field(default=[])
    minutes: int = Field(
        default=0, description="synthetic only: session minutes (0: whole session)"
    )
    seed: int = 7

    def resolve(self) -> MarketDataSource:
        """Return the concrete source for ``name``.

        Raises
        ------
        SourceError
            For an unknown source name, or one that cannot be built.
        """
        settings = SourceSettings(
            symbols=tuple(self.symbols),
            minutes=self.minutes,
            seed=self.seed,
            paths=tuple(self.paths),
        )
        return historical_source(self.name, settings)

    def batches(self, day: dt.date) -> Iterator[Batch]:
        return self.resolve().batches(day)
