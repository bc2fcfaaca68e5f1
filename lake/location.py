"""Where the lake is: ``--lake`` beats ``FLOWLAKE_LAKE`` beats ``data/lake``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_LAKE = "data/lake"
LAKE_ENV = "FLOWLAKE_LAKE"


def resolve_lake_root(override: str | None = None) -> str:
    """Return the lake root URI or absolute path.

    Local paths are made absolute so that a Dagster run, the CLI and the dashboards
    started from different working directories agree on one lake.
    """
    root = override or os.environ.get(LAKE_ENV) or DEFAULT_LAKE
    if "://" in root:
        return root.rstrip("/")
    return str(Path(root).expanduser().resolve())


@dataclass(frozen=True)
class Lake:
    """A lake root plus the storage options needed to reach it.

    Attributes
    ----------
    root
        Local directory or object-store URI (anything deltalake accepts).
    storage_options
        Passed to deltalake for object stores; empty for local paths.
    """

    root: str
    storage_options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, override: str | None = None) -> Lake:
        """Return the lake chosen by ``override`` / ``FLOWLAKE_LAKE`` / the default."""
        return cls(resolve_lake_root(override))

    def uri(self, table: str) -> str:
        """Return the URI of one table (one Delta table per dataset, named as the asset)."""
        return f"{self.root}/{table}"

    @property
    def is_local(self) -> bool:
        """Return True for a lake on the local filesystem."""
        return "://" not in self.root or self.root.startswith("file://")
