"""Daily partitions on the XNYS calendar: weekdays minus exchange holidays."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from adapters.calendar import first_session, holidays_between, last_session

#: First partition: the calendar's first session (2010-01-04), so any historical day since
#: can be landed, built and backfilled.
PARTITIONS_START = first_session()


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
