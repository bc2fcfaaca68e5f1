"""An index's level from its own options (put-call parity), where no quote of it lands.

SPX, NDX and RUT are indices: no equity feed prints them, yet the 0DTE rule measures a
strike's distance from the underlying. For a European call and put of one strike and
expiry, C - P = S - K·e^(-rT) (dividends aside). On the expiry day T is hours, so the
discount is nil at any rate: S = K + C - P. The strike where the call and put mids are
closest (at the money) gives the level with the least noise from either spread.
"""

from __future__ import annotations

import polars as pl

from adapters.osi import parse_osi_columns


def parity_levels(packets: pl.LazyFrame, nbbo: pl.LazyFrame, max_age_ns: int) -> pl.LazyFrame:
    """Return each packet's underlying level implied by its expiry's options at its start.

    Parameters
    ----------
    packets
        ``packet_id``, ``underlying``, ``expiry``, ``start_ts``: packets whose underlying
        has no quote of its own.
    nbbo
        Option NBBO rows (``contract``, ``ts_event``, ``seq``, ``bid``, ``ask``); rows of
        other underlyings or expiries are ignored.
    max_age_ns
        The oldest a call's or put's mid may be at the packet start.

    Returns
    -------
    pl.LazyFrame
        ``packet_id``, ``underlying_price``: strike + call mid - put mid at the strike
        whose mids are closest; no row for a packet without a call and put of one strike.

    Examples
    --------
    >>> quotes = pl.LazyFrame({
    ...     "contract": ["SPXW  251205C06000000", "SPXW  251205P06000000",
    ...                  "SPXW  251205C06010000", "SPXW  251205P06010000"],
    ...     "ts_event": [0, 0, 0, 0], "seq": [0, 1, 2, 3],
    ...     "bid": [12.0, 9.0, 7.0, 14.0], "ask": [12.5, 9.5, 7.5, 14.5]})
    >>> import datetime as dt
    >>> packets = pl.LazyFrame({"packet_id": ["p"], "underlying": ["SPX"],
    ...     "expiry": [dt.date(2025, 12, 5)], "start_ts": [5]})
    >>> parity_levels(packets, quotes, 10).collect().item(0, "underlying_price")
    6003.0
    """
    parsed = parse_osi_columns(pl.col("contract"))
    mids = (
        nbbo.filter((pl.col("bid") > 0) & (pl.col("ask") >= pl.col("bid")))
        .select(
            parsed["underlying"].alias("underlying"),
            parsed["expiry"].alias("expiry"),
            parsed["strike"].alias("strike"),
            parsed["right"].alias("_right"),
            pl.col("ts_event").alias("_qts"),
            "seq",
            ((pl.col("bid") + pl.col("ask")) / 2).alias("_mid"),
        )
        .join(packets.select("underlying", "expiry").unique(), on=["underlying", "expiry"])
        .sort("_qts", "seq")
    )
    keys = ["underlying", "expiry", "strike"]
    probes = (
        packets.select("packet_id", "underlying", "expiry", "start_ts")
        .join(mids.select(keys).unique(), on=["underlying", "expiry"])
        .sort("start_ts", "packet_id", "strike")
    )

    def side(right: str, name: str) -> pl.LazyFrame:
        return mids.filter(pl.col("_right") == right).select(
            *keys, "_qts", pl.col("_mid").alias(name)
        )

    return (
        probes.join_asof(side("C", "_call"), left_on="start_ts", right_on="_qts", by=keys,
                         strategy="backward", tolerance=max_age_ns, check_sortedness=False)
        .drop("_qts")
        .join_asof(side("P", "_put"), left_on="start_ts", right_on="_qts", by=keys,
                   strategy="backward", tolerance=max_age_ns, check_sortedness=False)
        .drop_nulls(["_call", "_put"])
        .with_columns((pl.col("_call") - pl.col("_put")).abs().alias("_gap"))
        # The closest pair; ties to the lower strike, so every run picks the same one.
        .sort("packet_id", "_gap", "strike")
        .group_by("packet_id", maintain_order=True)
        .first()
        .select("packet_id", (pl.col("strike") + pl.col("_call") - pl.col("_put")).alias("underlying_price"))
    )  # fmt: skip
