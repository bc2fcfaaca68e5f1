"""The NBBO in force at a print (rule 1) and the print's placement against it (rule 2).

Shared by option and equity enrichment. The join is backward as-of per instrument: the
latest valid quote at or before the print (never after, not even by 1 ns) and no older
than ``max_age_ms``. Quotes sharing a timestamp are ordered by ``seq``, so the match is
the same on every run.
"""

from __future__ import annotations

import polars as pl

from adapters.quotes import COMPLETE_SOURCES, NBBO, VENUE_BOOK_SOURCES
from assets.ordering import KEY_LIMIT, by_instrument_time, instrument_ids, sort_keyed
from assets.thresholds import NbboRules, Thresholds

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


def max_age_ns(rules: NbboRules) -> int:
    """Return the oldest a quote may be and still place a trade (``max_age_ms``), in ns."""
    return int(rules.max_age_ms) * 1_000_000


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


def _in_force(matched: pl.LazyFrame, max_age: int | None) -> pl.LazyFrame:
    """Apply rule 1 to as-of matches over a book with complete and sampled quotes.

    A sampled quote older than ``max_age`` places nothing (no match at all); a complete
    stream's quote that is crossed or empty is the NBBO in force and places nothing
    (``nbbo_ts`` kept, no prices). Without ``max_age`` the book held sampled quotes only
    and the join applied the limit itself.
    """
    if max_age is None:
        return matched
    stale = ~pl.col("_complete") & (pl.col("ts_event") - pl.col("nbbo_ts") > max_age)
    void = pl.col("_complete") & ~(
        (pl.col("nbbo_ask") > 0)
        & (pl.col("nbbo_bid") >= 0)
        & (pl.col("nbbo_bid") <= pl.col("nbbo_ask"))
    ).fill_null(False)
    return matched.with_columns(
        pl.when(~stale.fill_null(False)).then(pl.col("nbbo_ts")).alias("nbbo_ts"),
        *[
            pl.when(~(stale | void).fill_null(False)).then(pl.col(c)).alias(c)
            for c in ("nbbo_bid", "nbbo_ask")
        ],
    )


def join_nbbo(prints: pl.LazyFrame, quotes: pl.LazyFrame, by: str, th: Thresholds) -> pl.LazyFrame:
    """Return ``prints`` with the NBBO in force and the placement against it.

    The as-of join runs on small integer instrument ids, not on the instrument strings
    (4-5x faster, docs/stack.md): ids are positions in the sorted list of the prints'
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
        ``quotes`` may carry ``_complete`` (see :func:`nbbo_stream`): a complete
        stream's quote places a print however old it is, and when the quote in force is
        crossed or empty the print is NONE (an earlier quote never places it); the other
        quotes are sampled: the latest valid one within ``max_age_ms`` places the print.
    th
        The thresholds: ``nbbo.max_age_ms``, ``placement.eps_min``,
        ``placement.eps_spread_fraction``.

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
    first_quote = int(lo) - max_age_ns(th.nbbo)  # type: ignore[arg-type]
    instrument = instrument_ids(by, names)
    keys = rows.select(instrument.alias("_iid"), "ts_event", "seq").with_row_index("_row")
    complete = "_complete" in quotes.collect_schema().names()
    columns = [
        instrument.alias("_iid"),
        pl.col("ts_event").alias("nbbo_ts"),
        pl.col("seq").alias("_qseq"),
        pl.col("bid").alias("nbbo_bid"),
        pl.col("ask").alias("nbbo_ask"),
    ]
    sampled = quotes.filter(~pl.col("_complete")) if complete else quotes
    book_plan = near_prints(
        valid_quotes(sampled)
        .filter(pl.col("ts_event").is_between(first_quote, hi))
        .select(*columns, *([pl.lit(False).alias("_complete")] if complete else []))
        .drop_nulls("_iid"),
        keys,
        len(names),
        max_age_ns(th.nbbo),
        first_quote,
        hi,
    )
    # Streamed: the day's quotes are read, filtered and narrowed to numbers a batch at a
    # time; collected whole, their instrument strings alone were most of the stage's peak
    # (59M quotes on a 10M-print day). Row-wise steps only, which keep the rows' order, and
    # the sort below is in memory: the same book on every run. Both books in one run, so
    # that the day's quotes are read once.
    if complete:
        # Every quote of a complete stream up to the last print, crossed and empty ones too:
        # the quote in force decides, however old, and an invalid one places nothing.
        whole_plan = (
            quotes.filter(pl.col("_complete") & (pl.col("ts_event") <= hi))
            .select(*columns, pl.lit(True).alias("_complete"))
            .drop_nulls("_iid")
        )
        book, whole = pl.collect_all([book_plan, whole_plan], engine="streaming")
        book = pl.concat([book, whole])
        # The sort keys' time range must cover the complete stream's older quotes.
        oldest = whole.get_column("nbbo_ts").min()
        first_quote = min(first_quote, first_quote if oldest is None else int(oldest))  # type: ignore[arg-type]
    else:
        book = book_plan.collect(engine="streaming")
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
            # A complete stream has no age limit: the limit applies to sampled quotes below.
            tolerance=None if complete else max_age_ns(th.nbbo),
            allow_exact_matches=True,
            check_sortedness=False,  # sorted explicitly above; polars cannot check with `by`
        )
        # Time order; ties by instrument (its id's order), then seq. The keys are in
        # (instrument, time, seq) order here and the join keeps it, so a stable sort on the
        # time alone leaves ties in (instrument, seq) order: one int64 column to compare
        # instead of three.
        .sort("ts_event", maintain_order=True)
        .pipe(_in_force, max_age_ns(th.nbbo) if complete else None)
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
            float(th.placement.eps_min),
            float(th.placement.eps_spread_fraction),
        ).alias("placement"),
    )


def consolidate_venues(books: pl.LazyFrame, by: str = "contract") -> pl.LazyFrame:
    """Return the NBBO of venue books: after each venue update, the best bid and best offer
    over every venue's latest top of book.

    Each venue's book stands until that venue changes it. A venue with no bid (a zero or
    missing bid) or no offer (a missing or zero ask) adds nothing to that side; a venue
    that empties its book leaves the NBBO. The NBBO's size on a side is the sum of the
    venues' sizes at its best price.

    Parameters
    ----------
    books
        Venue quotes of one day: ``by``, ``ts_event``, ``seq``, ``exchange`` (the venue),
        ``bid``, ``ask``, ``bid_size``, ``ask_size``.

    Returns
    -------
    pl.LazyFrame
        One row per venue update, in (``by``, ``ts_event``, ``seq``) order: ``by``,
        ``ts_event``, ``seq``, ``bid`` (0.0 without a bid), ``ask`` (null without an
        offer), ``bid_size``, ``ask_size``, ``locked`` (bid == ask) and ``crossed``
        (bid > ask). A crossed or empty NBBO places no trade (rule 1).

    Examples
    --------
    >>> books = pl.LazyFrame({
    ...     "contract": ["C"] * 2, "ts_event": [1, 2], "seq": [0, 0], "exchange": ["A", "B"],
    ...     "bid": [1.0, 1.1], "ask": [1.3, 1.2], "bid_size": [5, 7], "ask_size": [5, 7]})
    >>> consolidate_venues(books).select("bid", "ask").collect().rows()
    [(1.0, 1.3), (1.1, 1.2)]
    """
    venues = books.select(pl.col("exchange").unique().sort()).collect().get_column("exchange")
    ordered = books.sort(by, "ts_event", "seq", maintain_order=True)

    def standing(column: str, venue: str, empty: float) -> pl.Expr:
        # The venue's value from its latest update; ``empty`` before its first one.
        mine = pl.when(pl.col("exchange") == venue).then(pl.col(column))
        return mine.forward_fill().over(by).fill_null(empty)

    inf = float("inf")
    bids, asks, bid_sizes, ask_sizes = [], [], [], []
    for i, venue in enumerate(venues):
        bids.append(standing("_bid", venue, 0.0).alias(f"_b{i}"))
        asks.append(standing("_ask", venue, inf).alias(f"_a{i}"))
        bid_sizes.append(standing("bid_size", venue, 0).alias(f"_bs{i}"))
        ask_sizes.append(standing("ask_size", venue, 0).alias(f"_as{i}"))
    n = len(venues)
    best_bid = pl.max_horizontal([pl.col(f"_b{i}") for i in range(n)]) if n else pl.lit(0.0)
    best_ask = pl.min_horizontal([pl.col(f"_a{i}") for i in range(n)]) if n else pl.lit(inf)

    def size_at(side: str, sizes: str, best: str) -> pl.Expr:
        terms = [
            pl.when(pl.col(f"{side}{i}") == pl.col(best)).then(pl.col(f"{sizes}{i}")).otherwise(0)
            for i in range(n)
        ]
        return pl.sum_horizontal(terms) if terms else pl.lit(0)

    bid, ask = pl.col("_best_bid"), pl.col("_best_ask")
    return (
        ordered.with_columns(
            # A missing or zero price is an empty side (OPRA shows "no bid" as 0).
            pl.col("bid").fill_null(0.0).alias("_bid"),
            pl.when(pl.col("ask") > 0).then(pl.col("ask")).otherwise(inf).alias("_ask"),
        )
        .with_columns(*bids, *asks, *bid_sizes, *ask_sizes)
        .with_columns(best_bid.alias("_best_bid"), best_ask.alias("_best_ask"))
        .select(
            by,
            "ts_event",
            "seq",
            bid.alias("bid"),
            pl.when(ask.is_finite()).then(ask).alias("ask"),
            pl.when(bid > 0).then(size_at("_b", "_bs", "_best_bid")).otherwise(0).cast(pl.Int64).alias("bid_size"),
            pl.when(ask.is_finite()).then(size_at("_a", "_as", "_best_ask")).otherwise(0).cast(pl.Int64).alias("ask_size"),
            ((bid > 0) & ask.is_finite() & (bid == ask)).alias("locked"),
            ((bid > 0) & ask.is_finite() & (bid > ask)).alias("crossed"),
        )
    )  # fmt: skip


def nbbo_stream(quotes: pl.LazyFrame, by: str = "contract") -> pl.LazyFrame:
    """Return the NBBOs among a day's option quotes, each with ``_complete`` (rule 1).

    Rows whose ``exchange`` is ``NBBO`` are the vendor's NBBO, complete or sampled as
    their ``source`` says (:data:`adapters.quotes.QUOTE_STREAMS`). Venue books of a
    complete stream (OPRA ``mbp-1``) are consolidated here (:func:`consolidate_venues`).
    Any other venue quote (a ``tbbo`` snapshot) is no NBBO and is left out.

    Returns
    -------
    pl.LazyFrame
        ``by``, ``ts_event``, ``seq``, ``bid``, ``ask``, ``bid_size``, ``ask_size``,
        ``_complete``.
    """
    columns = [by, "ts_event", "seq", "bid", "ask", "bid_size", "ask_size", "_complete"]
    vendor = quotes.filter(pl.col("exchange") == NBBO).with_columns(
        pl.col("source").is_in(COMPLETE_SOURCES).alias("_complete")
    )
    books = quotes.filter(pl.col("source").is_in(VENUE_BOOK_SOURCES) & (pl.col("exchange") != NBBO))
    consolidated = consolidate_venues(books, by).with_columns(pl.lit(True).alias("_complete"))
    return pl.concat([vendor.select(columns), consolidated.select(columns)])


def standing_quotes(quotes: pl.LazyFrame, before_ns: int, by: str = "contract") -> pl.LazyFrame:
    """Return, of the complete streams' quotes before ``before_ns``, the latest per
    (``by``, ``exchange``, ``source``): what a tail that starts there needs to know of
    the books still standing (a complete stream's NBBO places prints however old).

    A live tail reads quotes from one age limit before it; with these rows in front, its
    NBBO in force, and the venues it consolidates, are those of the whole day.
    """
    return (
        quotes.filter((pl.col("ts_event") < before_ns) & pl.col("source").is_in(COMPLETE_SOURCES))
        .sort("ts_event", "seq", maintain_order=True)
        .group_by(by, "exchange", "source", maintain_order=True)
        .last()
        .select(quotes.collect_schema().names())
    )
