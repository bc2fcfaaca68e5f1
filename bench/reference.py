"""A straightforward row-by-row Python FlowPacket builder: the shape of the reference
system's compute loop, with the same rules and the same figures, used only to measure
the speed-up of the columnar version honestly (and to check that both agree)."""

from __future__ import annotations

from collections import deque
from typing import Any

import polars as pl


def packets_row_by_row(prints: pl.DataFrame, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Return packets as dicts: event_ids, n_prints, n_exchanges, size, premium, vwap,
    placement counts, iso_count, nbbo_coverage, buy_ratio, kind and max_burst."""
    window = int(params["cluster_window_ms"]) * 1_000_000
    burst = int(params["burst_window_ms"]) * 1_000_000
    rows = prints.filter(pl.col("in_flow")).sort("contract", "complex", "ts_event", "seq")
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None

    def close(p: dict[str, Any]) -> None:
        placed = p["AA"] + p["A"] + p["MID"] + p["B"] + p["BB"]
        directional = p["AA"] + p["A"] + p["B"] + p["BB"]
        n_ex = len(p["exchanges"])
        if p["complex"]:
            kind = "complex"
        elif p["n"] >= params["sweep_min_count"] and n_ex >= params["sweep_min_exchanges"]:
            kind = "sweep"
        elif p["max_size"] >= params["block_min_size"]:
            kind = "block"
        elif p["n"] >= 2 and n_ex == 1:
            kind = "split"
        else:
            kind = "single"
        out.append({
            "event_ids": tuple(p["ids"]), "n_prints": p["n"], "n_exchanges": n_ex, "size": p["size"], "premium": p["premium"],
            "vwap": p["notional"] / p["size"], "n_aa": p["AA"], "n_a": p["A"], "n_mid": p["MID"], "n_b": p["B"], "n_bb": p["BB"],
            "n_none": p["NONE"], "iso_count": p["iso"], "nbbo_coverage": placed / p["n"],
            "buy_ratio": (p["AA"] + p["A"]) / directional if directional else None, "kind": kind,
            "max_burst": p["max_burst"],
        })  # fmt: skip

    columns = (
        "contract",
        "complex",
        "ts_event",
        "event_id",
        "exchange",
        "price",
        "size",
        "premium",
        "placement",
        "iso",
        "floor",
    )
    for (
        contract,
        complex_,
        ts,
        event_id,
        exchange,
        price,
        size,
        premium,
        placement,
        iso,
        floor,
    ) in rows.select(columns).iter_rows():
        if cur is None or (contract, complex_) != cur["key"] or ts - cur["start"] > window:
            if cur is not None:
                close(cur)
            cur = {"key": (contract, complex_), "complex": complex_, "start": ts, "ids": [], "exchanges": set(), "n": 0, "size": 0,
                   "premium": 0.0, "notional": 0.0, "max_size": 0, "iso": 0, "AA": 0, "A": 0, "MID": 0, "B": 0, "BB": 0, "NONE": 0,
                   "recent": deque(), "max_burst": 0}  # fmt: skip
        cur["ids"].append(event_id)
        cur["exchanges"].add(exchange)
        cur["n"] += 1
        cur["size"] += size
        cur["premium"] += premium
        cur["notional"] += price * size
        cur["max_size"] = max(cur["max_size"], size)
        cur["iso"] += int(iso)
        cur[placement] += 1
        if not floor:
            recent = cur["recent"]
            recent.append(ts)
            while recent[0] < ts - burst:
                recent.popleft()
            cur["max_burst"] = max(cur["max_burst"], len(recent))
    if cur is not None:
        close(cur)
    return out
