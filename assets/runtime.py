"""The process settings flowlake's work needs, applied by each entry point (the Dagster
code locations, the CLI, the benchmark stages, the test session), never on import.

- polars' in-memory engine for ``collect()`` (:func:`lake.engine.use_in_memory_engine`):
  a derived partition must be the same bytes on every run.
- numpy does not ask the kernel for huge pages on its large arrays
  (``madvise(MADV_HUGEPAGE)``, numpy's default) unless ``NUMPY_MADVISE_HUGEPAGE`` is set:
  where transparent huge pages defragment on ``madvise`` (a common kernel default, and the
  benchmark machine's), large allocations spent seconds in the kernel once the process held
  a few GiB (figures in bench/README.md). Huge pages the kernel gives unasked stay.
"""

from __future__ import annotations

import os

import numpy as np

from lake.engine import use_in_memory_engine

HUGEPAGE_ENV = "NUMPY_MADVISE_HUGEPAGE"


def configure_process() -> None:
    """Apply flowlake's process settings; an environment variable set by the user wins
    (``POLARS_ENGINE_AFFINITY``, ``NUMPY_MADVISE_HUGEPAGE``)."""
    use_in_memory_engine()
    if HUGEPAGE_ENV not in os.environ:
        np._core.multiarray._set_madvise_hugepage(False)
