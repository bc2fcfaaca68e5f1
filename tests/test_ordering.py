"""assets.ordering: the one-key sort and the chunked searchsorted, by hand and both paths."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import assets.ordering as ordering
from assets.ordering import by_instrument_time, first_at_or_after


def test_first_at_or_after_by_hand() -> None:
    group = np.array([0, 0, 0, 0, 1, 1, 3])
    ts = np.array([0, 5, 10, 11, 0, 10, 7])
    # Reach 10: row 0 (t=0) -> row 2 (t=10, at the reach exactly); row 1 (t=5) -> none in
    # group 0 past 15, so none (not the next group's first row); group 1: 0 -> 10.
    assert first_at_or_after(group, ts, 10).tolist() == [2, 7, 7, 7, 5, 7, 7]
    assert (
        first_at_or_after(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 5).size == 0
    )
    # Looking back 5: the oldest row of the group at or after ts - 5 (never another group's).
    assert first_at_or_after(group, ts, -5).tolist() == [0, 0, 1, 2, 4, 5, 6]


@pytest.mark.parametrize("reach", [9, -9])
@pytest.mark.parametrize("limit", [2**62, 64, 1])
def test_chunked_keys_give_the_same_links(
    monkeypatch: pytest.MonkeyPatch, limit: int, reach: int
) -> None:
    """However few groups fit one key (down to one per chunk), forward or back, the links
    are those of a search row by row."""
    rng = np.random.default_rng(7)
    group = np.sort(rng.integers(0, 40, 2000))
    ts = np.concatenate(
        [np.sort(rng.integers(0, 50, (group == g).sum())) for g in np.unique(group)]
    )
    expected = [
        next(
            (j for j in range(len(ts)) if group[j] == group[i] and ts[j] >= ts[i] + reach), len(ts)
        )
        for i in range(len(ts))
    ]
    monkeypatch.setattr(ordering, "KEY_LIMIT", limit)
    assert first_at_or_after(group, ts, reach).tolist() == expected


@pytest.mark.parametrize("n_groups", [5, 2**61])  # the second cannot share one int64 key
def test_one_key_and_three_columns_sort_alike(n_groups: int) -> None:
    rng = np.random.default_rng(3)
    frame = pl.DataFrame(
        {
            "g": rng.integers(0, 5, 500),
            "ts": rng.integers(1_000, 1_050, 500),
            "seq": rng.permutation(500),
        }
    )
    keys = by_instrument_time("g", "ts", "seq", n_groups, 1_000, 1_049)
    assert len(keys) == (2 if n_groups == 5 else 3)
    assert_frame_equal(frame.sort(keys), frame.sort("g", "ts", "seq"))
