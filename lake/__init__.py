"""The lake: where tables live, how they are written, and the read API dashboards use.

Importing it pins polars' in-memory engine for the process (see ``lake.engine``): every
asset, the CLI and the dashboards read and write through here.
"""

from lake.engine import use_in_memory_engine
from lake.location import Lake, resolve_lake_root

use_in_memory_engine()

__all__ = ["Lake", "resolve_lake_root"]
