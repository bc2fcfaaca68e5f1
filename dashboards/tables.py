"""Every table the dashboards show: formatted for people, explained, and downloadable.

One function, :func:`show`, draws a frame with the column formats and tooltips below and
two download buttons (CSV and Parquet) that export exactly the rows and columns shown.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import polars as pl
import streamlit as st

#: Dollar amounts: shown compact (471.8K, 1.2M) under a "$" header.
MONEY = frozenset({
    "premium", "net_premium", "gross_premium", "notional", "call_premium", "put_premium",
    "bullish_premium", "bearish_premium", "net_gex", "call_gex", "put_gex",
})  # fmt: skip
#: Prices: two decimals (four for fractions of a cent would be noise on an option tape).
PRICES = frozenset({"price", "vwap", "nbbo_bid", "nbbo_ask", "entry_price", "spot", "strike",
                    "quote_bid", "quote_ask", "gamma_flip", "open", "high", "low", "close"})  # fmt: skip
#: Fractions shown as percentages.
PERCENT = frozenset({"nbbo_coverage", "buy_ratio", "hit_rate", "precision", "recall",
                     "ret_5m", "ret_30m", "ret_close", "ret_next", "mean_move", "median_move",
                     "mean_ci_low", "mean_ci_high", "hit_ci_low", "hit_ci_high", "confidence",
                     "max_confidence"})  # fmt: skip

#: What a column means, where its name does not say it (shown when hovering its header).
HELP: dict[str, str] = {
    "time": "New York time of the first print (the print's own time for a single print).",
    "kind": "sweep: one order across venues; block: one large print; split: one order in "
    "pieces on one venue; single: one print; complex: an exchange-reported multi-leg print.",
    "side": "buy: at or above the ask (the buyer paid up); sell: at or below the bid; mixed: "
    "both; none: at the mid or with no usable quote.",
    "placement": "Where a print traded against the NBBO in force: AA above the ask, A at the "
    "ask, MID between, B at the bid, BB below the bid.",
    "premium": "Price x size x multiplier, in dollars.",
    "net_premium": "Premium bought minus premium sold (a structure: each leg signed by its side).",
    "gross_premium": "Premium of every leg, unsigned.",
    "n_prints": "Prints in the order.",
    "n_exchanges": "Venues the order traded on (a sweep takes several at once).",
    "nbbo_coverage": "Share of the prints that had an NBBO no older than the age limit.",
    "buy_ratio": "Share of the aggressor-eligible size that traded at or above the ask.",
    "iso_count": "Intermarket sweep orders: prints the sender flagged as part of a sweep.",
    "vol/OI": "The contract's volume so far today (this order included) over the start-of-day "
    "open interest. Above 1: more traded today than was open this morning.",
    "rel vol": "The contract's volume today over its own average of previous sessions. Empty "
    "until the lake holds earlier sessions of the contract (a lake's first day has none).",
    "relative_volume": "Today's volume over the contract's own average of previous sessions. "
    "Empty until the lake holds earlier sessions of the contract.",
    "volume_to_oi": "Volume over the start-of-day open interest.",
    "opening": "Likely opening: the order is larger than the start-of-day open interest "
    "minus the contract's earlier volume today, so it cannot all be closing.",
    "golden": "A golden sweep: a sweep of at least the golden premium bought at the ask that "
    "is likely opening.",
    "dte": "Calendar days to expiry (0: expires today).",
    "otm_pct": "How far out of the money, in % of the spot at the order's time: calls (strike "
    "/ spot - 1), puts (1 - strike / spot). Negative: in the money.",
    "spot": "The underlying's last trade price in the second before the order.",
    "direction": "bullish / bearish from the side and right (calls bought, puts sold are "
    "bullish); none when the structure or order does not lean.",
    "sides": "Each leg's side, aligned with the contracts.",
    "severity": "high / medium / low from the alert's score.",
    "score": "0-100: the classifiers' confidences, premium and NBBO coverage combined.",
    "off_exchange": "Reported to a trade reporting facility (dark pools, wholesalers), not "
    "executed on a lit exchange.",
    "in_flow": "Counts toward flow: not cancelled, not late or out of sequence, regular trading.",
    "nbbo_age_ms": "Age of the NBBO the print was placed against, in milliseconds.",
    "conditions": "The venue's sale conditions, as reported.",
    "hit_rate": "Share of alerts whose underlying then moved their way.",
    "n": "Alerts with a known move at this horizon.",
}


def column_config(frame: pl.DataFrame) -> dict[str, st.column_config.Column]:
    """Return Streamlit column settings for ``frame``: formats by column, tooltips.

    Examples
    --------
    >>> sorted(column_config(pl.DataFrame({"premium": [471800.0], "side": ["buy"]})))
    ['premium', 'side']
    """
    config: dict[str, st.column_config.Column] = {}
    for name, dtype in frame.schema.items():
        help_text = HELP.get(name)
        if name in MONEY and dtype.is_numeric():
            config[name] = st.column_config.NumberColumn(
                f"{name} $", help=help_text, format="compact"
            )
        elif name in PERCENT and dtype.is_numeric():
            config[name] = st.column_config.NumberColumn(name, help=help_text, format="percent")
        elif name in PRICES and dtype.is_float():
            config[name] = st.column_config.NumberColumn(name, help=help_text, format="%.2f")
        elif help_text is not None:
            config[name] = st.column_config.Column(name, help=help_text)
    return config


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """Return ``frame`` as CSV: list cells joined with "; " (CSV has no lists)."""
    flat = frame.with_columns(
        pl.col(name).cast(pl.List(pl.String)).list.join("; ")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.List)
    )
    return flat.write_csv().encode()


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """Return ``frame`` as a Parquet file (types and lists kept)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def _later(make: Callable[[pl.DataFrame], bytes], frame: pl.DataFrame) -> Callable[[], bytes]:
    # Built on click, not at every refresh: a download is rare, a refresh is every 2 s.
    return lambda: make(frame)


def show(
    frame: pl.DataFrame,
    key: str,
    *,
    height: int | str = "auto",
    pick: bool = False,
    limit: int | None = None,
) -> dict | None:
    """Draw ``frame`` (formatted, with tooltips) and its CSV and Parquet downloads.

    The downloads hold exactly ``frame``: the rows and columns the filters left. With
    ``limit``, a longer ``frame`` shows its first ``limit`` rows only (a tape: the newest)
    and says so; its downloads still hold every row.

    Returns
    -------
    dict or None
        With ``pick``, the row the user clicked (a table with row selection), else None.
    """
    rows = frame
    if limit is not None and frame.height > limit:
        st.caption(f"The first {limit:,} of {frame.height:,} rows; the downloads hold all of them.")
        frame = frame.head(limit)
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        height=height,
        key=key,
        column_config=column_config(frame),
        on_select="rerun" if pick else "ignore",
        selection_mode="single-row",
    )
    left, right, _ = st.columns([1, 1, 6])
    left.download_button(
        "CSV", _later(csv_bytes, rows), file_name=f"{key}.csv", mime="text/csv",
        key=f"{key}_csv", icon=":material/download:", on_click="ignore",
    )  # fmt: skip
    right.download_button(
        "Parquet", _later(parquet_bytes, rows), file_name=f"{key}.parquet",
        mime="application/vnd.apache.parquet", key=f"{key}_parquet", icon=":material/download:",
        on_click="ignore",
    )  # fmt: skip
    picked = event.selection.rows if pick else []
    return frame.row(picked[0], named=True) if picked and picked[0] < frame.height else None
