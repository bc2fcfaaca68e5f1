"""``python -m orchestration.guard [--grace S] CMD...``: run CMD and take its whole process group down
with it when told to stop.

``flowlake serve`` starts each UI through a guard, in a session of its own. When serve
stops (or dies: the kernel sends the guard SIGTERM, see ``serve._die_with_parent``), the
guard signals its process group, CMD and whatever CMD started (``dagster dev``'s webserver
and daemon), waits up to :data:`GRACE_S` for CMD, then kills the group. Without it, a
killed serve left the stopping to ``dagster dev``, which waits a minute for its webserver
before it kills it: under load the UI outlived serve by that minute.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from types import FrameType

#: How long CMD has to stop after SIGTERM before its whole group is killed.
GRACE_S = 10.0


def main(argv: list[str]) -> int:
    """Run ``argv`` (``--grace S`` first to wait S seconds instead of :data:`GRACE_S`) in
    this process group; return its exit code."""
    grace = GRACE_S
    if argv[:1] == ["--grace"] and len(argv) > 1:
        grace, argv = float(argv[1]), argv[2:]
    if not argv:
        print("usage: python -m orchestration.guard [--grace S] CMD [ARG...]", file=sys.stderr)
        return 2
    child = subprocess.Popen(argv)

    def stop(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.killpg(0, signal.SIGTERM)  # CMD and everything it started: this group
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=grace)
        os.killpg(0, signal.SIGKILL)  # what is left, this guard included

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
