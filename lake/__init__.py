"""The lake: where tables live, how they are written, and the read API dashboards use.

Importing it changes no process setting: entry points pin polars' in-memory engine
(:func:`lake.engine.use_in_memory_engine`).
"""

from lake.location import Lake, resolve_lake_root

__all__ = ["Lake", "resolve_lake_root"]
