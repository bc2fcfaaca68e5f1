"""Pure polars transforms and the thin Dagster assets that call them (one concept per module).

Importing the package stops numpy from asking the kernel for huge pages on its large
arrays (``madvise(MADV_HUGEPAGE)``, numpy's default) unless ``NUMPY_MADVISE_HUGEPAGE``
is set. Where transparent huge pages defragment on ``madvise`` (a common kernel default,
and this machine's), large numpy allocations spent seconds in the kernel once the process
held a few GiB (measured as time, not traced; compaction is the likely cause): on the
10M-print benchmark day the classifier hits took 19.5 / 21.4 s with numpy's default and
10.4 / 11.2 s without (the baselines' cumulative sums over 9.6M packets went from ~0.7 s
each to tens of ms). Huge pages the kernel gives unasked stay.
"""

from __future__ import annotations

import os

import numpy as np

if "NUMPY_MADVISE_HUGEPAGE" not in os.environ:
    np._core.multiarray._set_madvise_hugepage(False)
