"""Daily partitions on the XNYS calendar: weekdays minus exchange holidays."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from adapters.calendar import holidays_between, last_session

#: First partition; earlier days can be added by moving this back.
PARTITIONS_START = dt.date(2024, 1, 2)


def _xnys_daily() -> dg.TimeWindowPartitionsDefinition:
    holidays = holidays_between(PARTITIONS_START, last_session())
    return dg.TimeWindowPartitionsDefinition(
        start=PARTITIONS_START.isoformat(),
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * 1-5",
        timezone="America/New_York",
        # Today's partition exists during the session so live micro-batches can fill it.
        end_offset=1,
        exclusions=[dt.datetime.combine(d, dt.time()) for d in holidays],
    )


trading_days = _xnys_daily()


def partition_date(key: str) -> dt.date:
    """Return the date of a partition key (``YYYY-MM-DD``, or the date of a (date, bucket) key)."""
    if isinstance(key, dg.MultiPartitionKey):
        key = key.keys_by_dimension["date"]
    return dt.date.fromisoformat(key)
