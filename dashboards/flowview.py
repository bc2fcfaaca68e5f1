"""The Flow tape's rows and filters: what a flow trader narrows a day's orders by.

Pure polars, tested without Streamlit. :func:`enrich` adds to each FlowPacket the columns
the filters need (days to expiry, the spot at the order's time and how far out of the money
it is, the dominant placement, positioning and unusual-volume flags); :func:`select` keeps the
rows a :class:`FlowFilter` asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

KINDS = ("sweep", "block", "split", "single", "complex")
SIDES = ("all", "buy", "sell", "mixed", "none")
RIGHTS = ("both", "calls", "puts")
#: Placements, most aggressive buy first; a packet's placement is the one most of its prints
#: have (ties go to the earlier in this order).
PLACEMENTS = ("AA", "A", "MID", "B", "BB")
_COUNTS = ("n_aa", "n_a", "n_mid", "n_b", "n_bb")
#: The ``packet_positioning`` columns the tape shows and filters by, and their types.
POSITIONING = {"volume_to_oi": pl.Float64, "relative_volume": pl.Float64,
               "likely_opening": pl.Boolean, "golden_sweep": pl.Boolean}  # fmt: skip


@dataclass(frozen=True)
class FlowFilter:
    """The Flow page's filters; every field is a URL parameter of the same name.

    ``dte_max`` and ``otm_max`` of None mean no upper bound; an ``otm`` bound keeps only
    orders whose spot is known.
    """

    kinds: list[str] = field(default_factory=lambda: ["sweep", "block", "split"])
    min_premium: int = 25_000
    min_size: int = 0
    side: str = "all"
    rights: str = "both"
    dte_min: int = 0
    dte_max: int | None = None
    otm_min: float | None = None
    otm_max: float | None = None
    placements: list[str] = field(default_factory=list)
    opening_only: bool = False
    golden_only: bool = False
    unusual_only: bool = False
    expiry: str = ""


def bar_ends(seconds: pl.DataFrame) -> pl.DataFrame:
    """Return 1-second equity bars (``symbol``, ``ts`` the bar's start, ``close``) as what
    :func:`spot_at` looks up: ``underlying``, ``bar_end`` (start + 1 s) and ``spot``, in
    ``bar_end`` order (sorted once per day, not once per lookup)."""
    return seconds.select(
        pl.col("symbol").alias("underlying"),
        (pl.col("ts") + 1_000_000_000).alias("bar_end"),
        pl.col("close").alias("spot"),
    ).sort("bar_end")


def spot_at(packets: pl.DataFrame, ends: pl.DataFrame) -> pl.Series:
    """Return each packet's spot: the close of its underlying's last 1-second bar that ended
    at or before the packet's first print (null when the underlying had no trade yet).

    ``ends`` comes from :func:`bar_ends`.

    Examples
    --------
    >>> bars = pl.DataFrame({"symbol": ["SPY", "SPY"], "ts": [0, 10**9], "close": [500.0, 501.0]})
    >>> orders = pl.DataFrame({"underlying": ["SPY", "SPY"], "start_ts": [2_500_000_000, 10**9]})
    >>> spot_at(orders, bar_ends(bars)).to_list()
    [501.0, 500.0]
    """
    left = packets.select("underlying", "start_ts").with_row_index("_row")
    # FlowPackets are stored in time order: the sort (and the one back) is skipped then.
    stored_order = packets.get_column("start_ts").is_sorted()
    joined = (left if stored_order else left.sort("start_ts")).join_asof(
        ends, left_on="start_ts", right_on="bar_end", by="underlying", strategy="backward",
        check_sortedness=False,  # sorted by start_ts; polars cannot check within groups
    )  # fmt: skip
    return (joined if stored_order else joined.sort("_row")).get_column("spot")


def enrich(
    packets: pl.DataFrame,
    positioning: pl.DataFrame | None,
    unusual_contracts: pl.Series | None,
) -> pl.DataFrame:
    """Return ``packets`` with ``dte``, the positioning columns (``volume_to_oi``,
    ``relative_volume``, ``likely_opening``, ``golden_sweep``) and ``unusual`` (the contract
    is flagged in ``contract_volume`` or the order's volume/OI is above 1). The placement and
    spot columns come later, on the rows a view keeps (:func:`with_spot`).
    """
    if positioning is not None:
        columns = list(POSITIONING)
        aligned = positioning.height == packets.height and bool(
            (positioning.get_column("packet_id") == packets.get_column("packet_id")).all()
        )
        # packet_positioning is written in the packets' order: side by side then, a join
        # (a hash of every packet id) only when it is not.
        packets = (
            packets.hstack(positioning.select(columns).get_columns())
            if aligned
            else packets.join(positioning.select("packet_id", *columns), on="packet_id", how="left")
        )
    else:
        packets = packets.with_columns(
            pl.lit(None, dtype).alias(name) for name, dtype in POSITIONING.items()
        )
    flagged = (
        pl.col("contract").is_in(unusual_contracts.implode())
        if unusual_contracts is not None
        else pl.lit(False)
    )
    return packets.with_columns(
        dte=(pl.col("expiry") - pl.col("date")).dt.total_days().cast(pl.Int32),
        unusual=flagged | (pl.col("volume_to_oi") > 1).fill_null(False),
    )


def placement() -> pl.Expr:
    """Return the placement most of a packet's prints have (ties: the more aggressive buy
    of :data:`PLACEMENTS`; null for a packet with no placed print)."""
    most = pl.max_horizontal(*_COUNTS)
    chosen = pl.when(most <= 0).then(pl.lit(None, pl.String))
    for name, count in zip(PLACEMENTS, _COUNTS, strict=True):
        chosen = chosen.when(pl.col(count) == most).then(pl.lit(name))
    return chosen.alias("placement")


def with_spot(frame: pl.DataFrame, ends: pl.DataFrame | None) -> pl.DataFrame:
    """Return ``frame`` (FlowPackets) with ``placement`` (:func:`placement`), ``spot``
    (:func:`spot_at` over ``ends``, from :func:`bar_ends`) and ``otm_pct``: how far out of
    the money in % of the spot, calls strike / spot - 1, puts 1 - strike / spot."""
    spot = (
        spot_at(frame, ends)
        if ends is not None and ends.height and frame.height
        else pl.Series("spot", [None] * frame.height, pl.Float64)
    )
    return frame.with_columns(placement(), spot=spot).with_columns(
        otm_pct=pl.when(pl.col("right") == "C")
        .then(pl.col("strike") / pl.col("spot") - 1)
        .otherwise(1 - pl.col("strike") / pl.col("spot"))
        * 100
    )


def select(frame: pl.DataFrame, f: FlowFilter, ends: pl.DataFrame | None = None) -> pl.DataFrame:
    """Return the rows of an :func:`enrich` ed frame that pass every filter of ``f``, with
    the spot columns (:func:`with_spot` over ``ends``, from :func:`bar_ends`).

    The spot is looked up for the rows the other filters left only: a day holds close to a
    million orders, a view a few thousand.

    Examples
    --------
    >>> rows = pl.DataFrame({"kind": ["sweep", "block"], "premium": [60_000.0, 30_000.0],
    ...     "size": [100, 20], "side": ["buy", "sell"], "right": ["C", "P"], "dte": [0, 30],
    ...     "strike": [100.0, 90.0], "likely_opening": [True, False],
    ...     "golden_sweep": [True, False], "unusual": [False, True], "expiry": [None, None],
    ...     "underlying": ["A", "A"], "start_ts": [1, 2], "n_aa": [0, 0], "n_a": [1, 0],
    ...     "n_mid": [0, 0], "n_b": [0, 1], "n_bb": [0, 0]})
    >>> select(rows, FlowFilter(rights="puts")).get_column("kind").to_list()
    ['block']
    >>> select(rows, FlowFilter(rights="calls")).get_column("kind").to_list()
    ['sweep']
    """
    keep = pl.col("kind").is_in(f.kinds) & (pl.col("premium") >= f.min_premium)
    keep &= (pl.col("size") >= f.min_size) & (pl.col("dte") >= f.dte_min)
    if f.side != "all":
        keep &= pl.col("side") == f.side
    if f.rights != "both":
        keep &= pl.col("right") == ("C" if f.rights == "calls" else "P")
    if f.dte_max is not None:
        keep &= pl.col("dte") <= f.dte_max
    if f.opening_only:
        keep &= pl.col("likely_opening")
    if f.golden_only:
        keep &= pl.col("golden_sweep")
    if f.unusual_only:
        keep &= pl.col("unusual")
    if f.expiry.strip():
        keep &= pl.col("expiry").cast(pl.String) == f.expiry.strip()
    shown = with_spot(frame.filter(keep.fill_null(False)), ends)
    late = pl.lit(True)  # filters on the columns with_spot adds
    if f.placements:
        late &= pl.col("placement").is_in(f.placements)
    if f.otm_min is not None:
        late &= pl.col("otm_pct") >= f.otm_min
    if f.otm_max is not None:
        late &= pl.col("otm_pct") <= f.otm_max
    return shown.filter(late.fill_null(False))


def packet_table(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the tape's columns of an :func:`enrich` ed frame, in the order shown (the same
    columns the downloads hold)."""
    return frame.select(
        pl.col("start_ts_ny").dt.strftime("%H:%M:%S%.3f").alias("time"),
        "underlying", "contract", "kind", "side", "placement", "dte",
        pl.col("otm_pct").round(2), pl.col("spot").round(2), "n_prints", "n_exchanges", "size",
        pl.col("premium").round(0), pl.col("vwap").round(2), "nbbo_coverage", "buy_ratio", "iso_count",
        pl.col("volume_to_oi").round(2).alias("vol/OI"), pl.col("relative_volume").round(2).alias("rel vol"),
        pl.col("likely_opening").alias("opening"), pl.col("golden_sweep").alias("golden"), "unusual", "packet_id",
    )  # fmt: skip
