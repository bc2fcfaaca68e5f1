"""assets.ordering: the one-key sort and the chunked searchsorted, by hand and both paths."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import assets.ordering as ordering
from assets.ordering import (
    by_instrument_time,
    first_at_or_after,
    group_starts,
    order_by_code_time,
    order_by_instrument_time,
    sort_keyed,
)


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


@pytest.mark.parametrize("null_groups", [False, True])
@pytest.mark.parametrize("stored", ["in_tie_order", "shuffled"])
@pytest.mark.parametrize("n_groups", [5, 2**61])
def test_sort_keyed_equals_the_sort_by_every_key(
    stored: str, n_groups: int, null_groups: bool
) -> None:
    """Stored with ties in order (the one-key sort is kept) or shuffled (the check sends it
    to the sort by key and tie), with null ties (and null groups), the rows come out as a
    stable sort by the keys puts them: by (group, ts, seq) where every group is known."""
    rng = np.random.default_rng(11)
    frame = pl.DataFrame(
        {
            "g": rng.integers(0, 5, 800),
            "ts": rng.integers(1_000, 1_020, 800),
            "seq": rng.integers(0, 30, 800),
            "row": np.arange(800),
        }
    ).with_columns(
        pl.when(pl.col("row") % 17 == 0 if null_groups else pl.lit(False))
        .then(None)
        .otherwise(pl.col("g"))
        .alias("g"),
        pl.when(pl.col("row") % 13 == 0).then(None).otherwise(pl.col("seq")).alias("seq"),
    )
    if stored == "in_tie_order":
        frame = frame.sort("seq", maintain_order=True)
    keys = by_instrument_time("g", "ts", "seq", n_groups, 1_000, 1_019)
    out = sort_keyed(frame, keys)
    assert_frame_equal(out, frame.sort(keys, maintain_order=True))
    if not null_groups:
        assert_frame_equal(out, frame.sort("g", "ts", "seq", maintain_order=True))


def test_sort_keyed_tie_check_by_hand() -> None:
    """Two rows per key: seq 2 stored before seq 1 must be swapped; a null seq goes first."""
    frame = pl.DataFrame(
        {"g": [0, 0, 1, 1], "ts": [5, 5, 5, 5], "seq": [2, 1, 7, None], "row": [0, 1, 2, 3]}
    )
    keys = by_instrument_time("g", "ts", "seq", 2, 0, 10)
    assert sort_keyed(frame, keys)["row"].to_list() == [1, 0, 3, 2]
    assert sort_keyed(frame.slice(0, 1), keys)["row"].to_list() == [0]
    # The only disorder a null after a value: still found.
    assert sort_keyed(frame.slice(2, 2), keys)["row"].to_list() == [3, 2]


def test_sort_keyed_refuses_a_frame_with_its_key_column() -> None:
    frame = pl.DataFrame({"g": [0], "ts": [1], "seq": [1], "_sort_key": [9]})
    with pytest.raises(ValueError, match="_sort_key"):
        sort_keyed(frame, by_instrument_time("g", "ts", "seq", 1, 0, 10))


def test_group_starts_by_hand() -> None:
    assert group_starts(np.array([3, 3, 1, 1, 1, 3])).tolist() == [1, 0, 1, 0, 0, 1]
    assert group_starts(np.array([7])).tolist() == [True]
    assert group_starts(np.array([], dtype=np.int64)).size == 0


def test_order_by_instrument_time_by_hand() -> None:
    """No two rows share (group, ts): the one-key order. Two do: their tie decides (seq 1
    before seq 2 though stored after it)."""
    frame = pl.DataFrame({"g": [1, 0, 1, 0], "ts": [5, 9, 2, 3], "seq": [0, 0, 0, 0]})
    assert order_by_instrument_time(frame, "g", "ts", "seq", 2).tolist() == [3, 1, 2, 0]
    tied = pl.DataFrame({"g": [0, 0, 0], "ts": [4, 4, 1], "seq": [2, 1, 9]})
    order = order_by_instrument_time(tied, "g", "ts", "seq", 1)
    assert order.dtype == np.int64 and order.tolist() == [2, 1, 0]
    assert order_by_instrument_time(tied.clear(), "g", "ts", "seq", 1).size == 0


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n_groups", [5, 2**61])  # the second cannot share one int64 key
def test_order_by_instrument_time_equals_the_sort(n_groups: int, ties: bool) -> None:
    """Across many chunks, with or without rows sharing (group, ts), one key or three
    columns: the order a stable sort by (group, ts, seq) gives."""
    rng = np.random.default_rng(5)
    ts = rng.integers(0, 40 if ties else 10**9, 1000)
    frame = pl.concat(
        [
            pl.DataFrame(
                {
                    "row": np.arange(k, k + 100),
                    "g": rng.integers(0, 5, 100),
                    "ts": ts[k : k + 100],
                    "seq": rng.permutation(100),
                }
            )
            for k in range(0, 1000, 100)
        ],
        rechunk=False,
    )
    assert frame.n_chunks() == 10
    expected = frame.sort("g", "ts", "seq", maintain_order=True)["row"].to_list()
    assert order_by_instrument_time(frame, "g", "ts", "seq", n_groups).tolist() == expected


def test_order_by_code_time_by_hand() -> None:
    """Codes 1, 0, 1, 0 at times 5, 9, 2, 3: code 0's rows (3 then 1), then code 1's (2
    then 0); the codes come back in that order."""
    frame = pl.DataFrame({"c": [1, 0, 1, 0], "ts": [5, 9, 2, 3], "seq": [0, 0, 0, 0]})
    order, codes = order_by_code_time(frame, pl.col("c"), "ts", "seq")
    assert order.tolist() == [3, 1, 2, 0] and codes.tolist() == [0, 0, 1, 1]
    empty, none = order_by_code_time(frame.clear(), pl.col("c"), "ts", "seq")
    assert empty.size == 0 and none.size == 0
