"""Saved views: named dashboard filter sets, kept in a small JSON file beside the lake.

A view is a page (its URL path) and the query string of its filters; opening it sets the
same filters again, on whatever day is selected. The file sits at ``<lake>/_views.json``
for a local lake and at ``~/.flowlake/views.json`` for an object-store lake, and is
replaced atomically (written aside, then renamed), so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode

from lake.location import Lake

#: A view's name is shown in a select box and a file: short, one line.
MAX_NAME = 80


class ViewError(ValueError):
    """A view that cannot be saved (its message is one line for the user)."""


@dataclass(frozen=True)
class SavedView:
    """One named filter set: the page's URL path and its query parameters."""

    name: str
    page: str
    query: dict[str, str]

    def link(self, base: str = "") -> str:
        """Return the view's URL under ``base`` (the app's address, "" for a relative link).

        Examples
        --------
        >>> SavedView("golden", "flow", {"golden_only": "1"}).link("http://host:8501")
        'http://host:8501/flow?golden_only=1'
        """
        query = urlencode(sorted(self.query.items()))
        return f"{base.rstrip('/')}/{self.page}" + (f"?{query}" if query else "")


def views_path(lake: Lake) -> Path:
    """Return the saved-views file of ``lake``."""
    if lake.is_local:
        return Path(lake.root.removeprefix("file://")) / "_views.json"
    return Path.home() / ".flowlake" / "views.json"


def load_views(path: Path) -> dict[str, SavedView]:
    """Return the saved views by name (none when the file is absent or unreadable)."""
    try:
        raw = json.loads(path.read_text())
        return {
            item["name"]: SavedView(item["name"], item["page"], dict(item["query"]))
            for item in raw["views"]
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write(path: Path, views: dict[str, SavedView]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"views": [asdict(v) for v in sorted(views.values(), key=lambda v: v.name)]},
                      indent=1)  # fmt: skip
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".views-", suffix=".json")
    with os.fdopen(fd, "w") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def save_view(path: Path, view: SavedView) -> None:
    """Store ``view``, replacing a view of the same name.

    Raises
    ------
    ViewError
        When the name is empty, longer than :data:`MAX_NAME` or more than one line.
    """
    name = view.name.strip()
    if not name or len(name) > MAX_NAME or "\n" in name:
        raise ViewError(f"a view's name is 1 to {MAX_NAME} characters on one line")
    views = load_views(path)
    views[name] = SavedView(name, view.page.strip("/"), {k: str(v) for k, v in view.query.items()})
    _write(path, views)


def delete_view(path: Path, name: str) -> None:
    """Remove the view called ``name`` (nothing happens when there is none)."""
    views = load_views(path)
    if views.pop(name, None) is not None:
        _write(path, views)
