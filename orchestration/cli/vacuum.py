"""``flowlake vacuum``: remove the data files no table version needs."""

from __future__ import annotations

import argparse

from assets.resources import LakeResource
from lake.vacuum import local_tables, vacuum
from orchestration.cli.common import EXIT_USAGE, CliError
from orchestration.definitions import defs


def run(args: argparse.Namespace, lake: LakeResource) -> int:
    """Vacuum every table of the lake (dry: list what would go)."""
    if lake.lake().is_local:
        tables = local_tables(lake.lake())
    else:
        tables = sorted(k.path[-1] for k in defs.resolve_asset_graph().get_all_asset_keys())
    try:
        done = vacuum(lake.lake(), tables, args.retention_hours, args.dry_run)
    except ValueError as exc:
        raise CliError(f"--retention-hours: {exc}", EXIT_USAGE) from None
    verb = "would remove" if args.dry_run else "removed"
    for result in done:
        if result.files:
            print(f"{result.table}: {verb} {len(result.files)} files")
    print(
        f"vacuum {lake.root}: {verb} {sum(len(r.files) for r in done)} files in {len(done)} tables"
    )
    return 0
