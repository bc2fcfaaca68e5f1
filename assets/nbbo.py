"""The NBBO in force at a print (rule 1) and the print's placement against it (rule 2).

Shared by option and equity enrichment. The join is backward as-of per instrument: the
latest valid quote at or before the print (never after, not even by 1 ns) and no older
than ``max_age_ms``. Quotes sharing a timestamp are ordered by ``seq``, so the match is
the same on every run.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from assets.ordering import KEY_LIMIT, by_instrument_time, instrument_ids, sort_keyed

PLACEMENTS = ("AA", "A", "MID", "B", "BB", "NONE")


def valid_quotes(quotes: pl.LazyFrame) -> pl.LazyFrame:
    """Return quotes that can place a trade: an ask > 0, a bid >= 0 and not crossed.

    A crossed or empty quote never matches; the as-of join then falls back to the
    previous valid quote of the contract, which still has to pass the age limit.
    """
    return quotes.filter(
        (pl.col("ask") > 0) & (pl.col("bid") >= 0) & (pl.col("bid") <= pl.col("ask"))
    )


def placement_expr(
    price: pl.Expr, bid: pl.Expr, ask: pl.Expr, eps_min: float, eps_frac: float
) -> pl.Expr:
    """Return the placement of ``price`` against a quote (rule 2).

    eps = max(eps_min, eps_frac x spread). AA above ask + eps, BB below bid - eps. Within
    eps of the ask (bid): A (B); within eps of both (a narrow or locked market) the nearer
    side wins and a tie (a locked market) is MID. No quote: NONE.
    """
    eps = pl.max_horizontal(pl.lit(eps_min), (ask - bid) * eps_frac)
    to_ask = (price - ask).abs()
    to_bid = (price - bid).abs()
    # A small tolerance keeps float noise (0.1 + 0.2) from moving a print across a boundary.
    tol = 1e-9
    near_ask = to_ask <= eps + tol
    near_bid = to_bid <= eps + tol
    return (
        pl.when(bid.is_null() | ask.is_null())
        .then(pl.lit("NONE"))
        .when(price > ask + eps + tol)
        .then(pl.lit("AA"))
        .when(price < bid - eps - tol)
        .then(pl.lit("BB"))
        .when(near_ask & near_bid)
        .then(
            pl.when(to_ask < to_bid - tol)
            .then(pl.lit("A"))
            .when(to_bid < to_ask - tol)
            .then(pl.lit("B"))
            .otherwise(pl.lit("MID"))
        )
        .when(near_ask)
        .then(pl.lit("A"))
        .when(near_bid)
        .then(pl.lit("B"))
        .otherwise(pl.lit("MID"))
    )


def max_age_ns(params: dict[str, Any]) -> int:
    """Return the oldest a quote may be and still place a trade (``max_age_ms``), in ns."""
    return int(params["max_age_ms"]) * 1_000_000


def near_prints(
    book: pl.LazyFrame, prints: pl.DataFrame, n_ids: int, age: int, ts_min: int, ts_max: int
) -> pl.LazyFrame:
    """Return the quotes of ``book`` that lie at most ``max_age_ms`` before some print of
    their instrument (and a few more): the only quotes that can place a print.

    The latest quote at or before a print either lies within the age limit, and then it is
    kept, or it is too old, and then every quote the print could see is too old too: the
    as-of join over the kept quotes gives the same match as over all of them. On a
    10M-print day 23% of 59M quotes are kept, and sorting the book, the costliest step of
    the option path, sorts a quarter of the rows.

    Parameters
    ----------
    book
        Quotes with ``_iid`` (instrument id) and ``nbbo_ts``, times in ``[ts_min, ts_max]``.
    prints
        The prints' ``_iid`` and ``ts_event`` (other columns are ignored); ids lie in
        ``[0, n_ids)``.
    age
        The age limit (``max_age_ms``) in ns.

    Returns
    -------
    pl.LazyFrame
        The rows of ``book`` in a (instrument, time bucket) that holds a print or lies
        within the age limit before one. Buckets are ``max_age_ms`` wide (wider when the
        key would not fit an int64), so a quote in reach of a print is in the print's
        bucket or in one of the next ``ceil(age / width)`` before it.
    """
    span = ts_max - ts_min + 1
    width = max(age, 1, -(-span * max(n_ids, 1) // KEY_LIMIT))
    buckets = span // width + 1

    def bucket(ts: str) -> pl.Expr:
        return pl.col("_iid").cast(pl.Int64) * buckets + (pl.col(ts) - ts_min) // width

    keys = prints.select(bucket("ts_event").alias("_b"))
    reach = pl.concat([keys.select(pl.col("_b") - k) for k in range(-(-age // width) + 1)])
    return book.filter(bucket("nbbo_ts").is_in(reach.get_column("_b").unique().implode()))


def join_nbbo(
    prints: pl.LazyFrame, quotes: pl.LazyFrame, by: str, params: dict[str, Any]
) -> pl.LazyFrame:
    """Return ``prints`` with the NBBO in force and the placement against it.

    The as-of join runs on small integer instrument ids, not on the instrument strings
    (4-5x faster, DESIGN.md §8): ids are positions in the sorted list of the prints'
    instruments, so sorting by (id, time) is sorting by (instrument, time), the order the
    join needs. Quotes of instruments that never print cannot place anything and are left
    out before the sort. Only the prints' keys are sorted and joined; the prints' own
    columns are put in time order once, at the end (a day's prints are wide: sorting them
    by instrument for the join and again by time for the write cost two gathers of every
    column).

    Parameters
    ----------
    prints, quotes
        Rows of one day keyed by ``by`` (``contract`` or ``symbol``) with ``ts_event``
        and ``seq``. ``prints`` is collected once here: pass a collected frame's ``lazy()``.
    params
        ``max_age_ms``, ``eps_min``, ``eps_spread_fraction``.

    Returns
    -------
    pl.LazyFrame
        ``prints`` in time order (``ts_event``, then ``by``, then ``seq``; ``ts_event`` is
        flagged sorted) plus ``nbbo_bid``, ``nbbo_ask``, ``nbbo_ts``, ``nbbo_age_ms`` (null
        without a quote) and ``placement``.
    """
    rows = prints.collect()
    names = rows.get_column(by).drop_nulls().unique().sort()
    times = rows.get_column("ts_event")
    lo, hi = times.min(), times.max()
    if lo is None:  # no prints: nothing to place (the empty frame keeps the schema)
        lo = hi = 0
    # Quotes older than the first print's age limit, or after the last print, place nothing.
    first_quote = int(lo) - max_age_ns(params)  # type: ignore[arg-type]
    instrument = instrument_ids(by, names)
    keys = rows.select(instrument.alias("_iid"), "ts_event", "seq").with_row_index("_row")
    book = (
        near_prints(
            valid_quotes(quotes)
            .filter(pl.col("ts_event").is_between(first_quote, hi))
            .select(
                instrument.alias("_iid"),
                pl.col("ts_event").alias("nbbo_ts"),
                pl.col("seq").alias("_qseq"),
                pl.col("bid").alias("nbbo_bid"),
                pl.col("ask").alias("nbbo_ask"),
            )
            .drop_nulls("_iid"),
            keys,
            len(names),
            max_age_ns(params),
            first_quote,
            hi,
        )
        # Streamed: the day's quotes are read, filtered and narrowed to numbers a batch at
        # a time; collected whole, their instrument strings alone were most of the stage's
        # peak (59M quotes on a 10M-print day). Row-wise steps only, which keep the rows'
        # order, and the sort below is in memory: the same book on every run.
        .collect(engine="streaming")
    )
    # join_asof does not check order (wrong matches, not errors): sort explicitly. Ties on
    # (instrument, ts) resolve to the highest seq: the last quote published.
    book = sort_keyed(
        book, by_instrument_time("_iid", "nbbo_ts", "_qseq", len(names), first_quote, hi)
    )
    matched = (
        sort_keyed(keys, by_instrument_time("_iid", "ts_event", "seq", len(names), first_quote, hi))
        .lazy()
        .join_asof(
            book.lazy(),
            left_on="ts_event",
            right_on="nbbo_ts",
            by="_iid",
            strategy="backward",
            tolerance=max_age_ns(params),
            allow_exact_matches=True,
            check_sortedness=False,  # sorted explicitly above; polars cannot check with `by`
        )
        # Time order; ties by instrument (its id's order), then seq. The keys are in
        # (instrument, time, seq) order here and the join keeps it, so a stable sort on the
        # time alone leaves ties in (instrument, seq) order: one int64 column to compare
        # instead of three (0.46-0.61 s against 0.70-1.04 s on 10M equity prints).
        .sort("ts_event", maintain_order=True)
        .select("_row", "nbbo_ts", "nbbo_bid", "nbbo_ask")
        .collect()
    )
    placed = pl.concat(
        [rows[matched.get_column("_row")], matched.drop("_row")], how="horizontal"
    ).with_columns(pl.col("ts_event").set_sorted())
    return placed.lazy().with_columns(
        ((pl.col("ts_event") - pl.col("nbbo_ts")) / 1_000_000).alias("nbbo_age_ms"),
        placement_expr(
            pl.col("price"),
            pl.col("nbbo_bid"),
            pl.col("nbbo_ask"),
            float(params["eps_min"]),
            float(params["eps_spread_fraction"]),
        ).alias("placement"),
    )
