"""``alert_outcomes``: what the underlying did after each alert.

For every alert of the configured version: the underlying's price when the alert was
known (the close of the last 1-minute bar that ended at or before the alert: never a bar
still open, which would look ahead), and its return to the last bar ending at or before
5 minutes and 30 minutes later, to the last bar of the day (so far, on a live day) and to
the last bar of the next session (once that session's candles are in the lake; the
end-of-day schedule scores the previous session again for it). A horizon past the last bar
available is null (not yet known). Bullish alerts gain when
the price rises, bearish ones when it falls; other directions (neutral, structure, mixed)
have no signed move. :func:`outcome_stats` summarises them per classifier and severity:
hit rate, mean and median signed move with 95% confidence intervals. The same report
runs on any day in the lake.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation.

import dagster as dg
import polars as pl

from adapters.calendar import next_session
from assets.checks import holds, unique
from assets.factory import DayRun, day_asset
from lake.outcomes import HORIZONS

BAR_NS = 60 * 10**9
#: Same-day horizons: ns after the alert, or None for the day's last bar.
INTRADAY: dict[str, int | None] = {"5m": 5 * BAR_NS, "30m": 30 * BAR_NS, "close": None}
SIGN = {"bullish": 1.0, "bearish": -1.0}
OUTCOME_COLUMNS = [
    "alert_id", "date", "ts", "underlying", "classifiers", "severity", "direction",
    "entry_price", *[f"ret_{h}" for h in HORIZONS], *[f"signed_{h}" for h in HORIZONS],
    "config_version",
]  # fmt: skip


def _closes(candles: pl.LazyFrame) -> pl.LazyFrame:
    """Return (symbol, bar end ns, close) of the 1-minute bars with a price, by time."""
    return (
        candles.filter((pl.col("interval") == "1m") & pl.col("close").is_not_null())
        .select("symbol", (pl.col("ts") + BAR_NS).alias("_end"), "close")
        .sort("_end")
    )


def score_outcomes(
    alerts: pl.LazyFrame, candles: pl.LazyFrame, next_candles: pl.LazyFrame | None = None
) -> pl.DataFrame:
    """Return each alert with its entry price and raw and signed returns per horizon.

    Parameters
    ----------
    alerts
        ``alerts`` rows of one day and one config version.
    candles
        ``equity_candles`` of the same day (the 1-minute bars are used).
    next_candles
        ``equity_candles`` of the next session, when it is in the lake (``ret_next`` is the
        return to its last 1-minute close); None: ``ret_next`` is null.

    Returns
    -------
    pl.DataFrame
        :data:`OUTCOME_COLUMNS`, ordered by ts, alert_id.
    """
    closes = _closes(candles)
    last = closes.group_by("symbol").agg(pl.col("_end").max().alias("_last_end"))
    # The price when the alert was known, then at each horizon: the last bar closed by then.
    rows = (
        alerts.select(
            "alert_id", "date", "ts", "underlying", "classifiers", "severity", "direction",
            "config_version",
        )
        .sort("ts")
        .join_asof(
            closes.rename({"close": "entry_price"}), left_on="ts", right_on="_end",
            by_left="underlying", by_right="symbol", strategy="backward", check_sortedness=False,
        )
        .drop("_end")
        .join(last, left_on="underlying", right_on="symbol", how="left")
    )  # fmt: skip
    for name, horizon in INTRADAY.items():
        target = pl.col("_last_end") if horizon is None else pl.col("ts") + horizon
        rows = (
            rows.with_columns(target.alias("_at"))
            .sort("_at")
            .join_asof(
                closes.rename({"close": f"_px_{name}"}), left_on="_at", right_on="_end",
                by_left="underlying", by_right="symbol", strategy="backward", check_sortedness=False,
            )
            .with_columns(
                pl.when(pl.col("_at") <= pl.col("_last_end"))
                .then(pl.col(f"_px_{name}") / pl.col("entry_price") - 1)
                .alias(f"ret_{name}")
            )
            .drop("_at", "_end", f"_px_{name}")
        )  # fmt: skip
    next_close = (
        _closes(next_candles).group_by("symbol").agg(pl.col("close").last().alias("_next"))
        if next_candles is not None
        else pl.LazyFrame(schema={"symbol": pl.String, "_next": pl.Float64})
    )
    rows = rows.join(next_close, left_on="underlying", right_on="symbol", how="left").with_columns(
        (pl.col("_next") / pl.col("entry_price") - 1).alias("ret_next")
    )
    sign = pl.col("direction").replace_strict(SIGN, default=None, return_dtype=pl.Float64)
    return (
        rows.with_columns((pl.col(f"ret_{h}") * sign).alias(f"signed_{h}") for h in HORIZONS)
        .select(OUTCOME_COLUMNS)
        .sort("ts", "alert_id")
        .collect()
    )


@day_asset(
    "alert_outcomes",
    group="signals",
    deps=["alerts", "equity_candles"],
    checks=["alert_id_unique", "entry_known_before_alert"],
    description="Each alert's underlying return 5 min, 30 min, to the close and to the next close after it, signed by direction.",
)
def alert_outcomes(run: DayRun) -> dg.MaterializeResult:
    """Score the day's alerts (of the configured version) against the underlying's bars.

    The returns to the close move with every bar, so a live run scores the whole day
    (alerts are few; only the 1-minute bars are read).
    """
    lake, day, th = run.lake, run.day, run.th
    version = th.config_version
    alerts = lake.require_day("alerts", day).filter(pl.col("config_version") == version)
    candles = lake.require_day("equity_candles", day).filter(pl.col("interval") == "1m")
    following = next_session(day)
    next_candles = None if following is None else lake.find_day("equity_candles", following)
    out = score_outcomes(alerts, candles, next_candles)
    checks = [
        unique(out, "alert_id"),
        # A price is known for an alert only from a bar closed by then: never a look-ahead.
        holds("entry_known_before_alert", out, pl.col("entry_price") <= 0),
    ]
    return run.overwrite_version(out, checks, clock="ts")
