"""The lake: where tables live, how they are written, and the read API dashboards use."""

from lake.location import Lake, resolve_lake_root

__all__ = ["Lake", "resolve_lake_root"]
