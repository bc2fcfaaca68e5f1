"""``flowlake live``: record a source and land and build each micro-batch as it arrives."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys

import dagster as dg

from assets.resources import LakeResource
from assets.sources import live_source
from orchestration.cli.common import CliError, refusals, session_date, source_settings
from orchestration.instance import get_instance
from orchestration.live import DAMAGED, TailBuild, TailBuildError, build_tail, follow, record
from orchestration.spool import Spool


def run(args: argparse.Namespace, lake: LakeResource) -> int:
    """Record the source and, each poll, land the new batches and build the day (the
    sensor's own tick function), until the source ends and everything is caught up."""
    day = session_date(args.date)
    settings = source_settings(args, args.underlyings, paths=tuple(args.files))
    with refusals():
        source = live_source(args.source, settings)
    spool = Spool.from_env(args.spool)
    instance = get_instance()
    builds: list[dt.date] = []

    def build(lake: LakeResource, day: dt.date, tags: dict[str, str]) -> TailBuild:
        builds.append(day)
        return build_tail(lake, day, tags)

    async def main() -> int:
        if args.record_only:
            recorded = await record(source, spool, day, speed=args.speed, interval_s=args.interval)
            return recorded.batches

        def report(event: dg.AssetMaterialization | dg.AssetCheckEvaluation) -> None:
            instance.report_runless_asset_event(event)
            damaged = (
                event.metadata.get(DAMAGED) if isinstance(event, dg.AssetMaterialization) else None
            )
            for reason in str(damaged.value).splitlines() if damaged is not None else []:
                print(
                    f"flowlake: warning: {reason}: quarantined; the other batches land",
                    file=sys.stderr,
                )

        done = await follow(
            source, spool, day, lake, speed=args.speed, interval_s=args.interval, poll_s=args.poll,
            build=build, report=report,
        )  # fmt: skip
        return done.batches

    try:
        with instance:
            batches = asyncio.run(main())
    except (ValueError, TailBuildError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:  # a gateway that is not there, a full or read-only spool
        raise CliError(str(exc).splitlines()[0]) from None
    if args.record_only:
        print(f"live {day} ({args.source}): {batches} batches recorded in {spool.root}")
        return 0
    print(
        f"live {day} ({args.source}) -> {lake.root}: {batches} batches recorded in {spool.root}, {len(builds)} builds; caught up"
    )
    return 0
