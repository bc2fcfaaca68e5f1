"""Live mode: a recorder that spools a source's batches (:mod:`.record`), the step that lands
them (:mod:`.landing`), the tail build of each micro-batch (:mod:`.tail`), the spool sensor's
tick (:mod:`.tick`) and ``flowlake live``'s follow loop (:mod:`.follow`)."""

from orchestration.live.follow import TailBuildError, Tick, follow
from orchestration.live.landing import DAMAGED, land_spooled
from orchestration.live.record import RecordResult, SettingsChanged, record
from orchestration.live.tail import LIVE_BUILD_ENV, LIVE_RUN_CONFIG, TailBuild, build_tail
from orchestration.live.tick import landed_seq, spool_tick

__all__ = [
    "DAMAGED", "LIVE_BUILD_ENV", "LIVE_RUN_CONFIG", "RecordResult", "SettingsChanged", "TailBuild",
    "TailBuildError", "Tick", "build_tail", "follow", "land_spooled", "landed_seq", "record",
    "spool_tick",
]  # fmt: skip
