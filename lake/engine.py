"""Which polars engine runs flowlake's lazy queries: the in-memory one, unless told otherwise.

polars 2 runs ``LazyFrame.collect()`` on its streaming engine by default. flowlake keeps
the in-memory engine, for two reasons:

- Replay. A derived partition must be byte-identical on every run. The streaming engine
  splits work into morsels whose order follows thread scheduling; polars' own tracker
  lists cases where that changes results between runs (float sums added in another
  order, a union's inputs out of order). The in-memory engine works on whole columns in
  a fixed order.
- Speed on this workload. A day fits in memory, and on the benchmark days the in-memory
  engine was faster and used less memory.

``POLARS_ENGINE_AFFINITY`` set in the environment still wins (to compare engines).
"""

from __future__ import annotations

import os

import polars as pl

ENGINE_ENV = "POLARS_ENGINE_AFFINITY"
ENGINE = "in-memory"


def use_in_memory_engine() -> None:
    """Make ``collect()`` use the in-memory engine unless ``POLARS_ENGINE_AFFINITY`` is set."""
    if ENGINE_ENV not in os.environ:
        pl.Config.set_engine_affinity(ENGINE)
