"""A straightforward row-by-row Python FlowPacket builder: the shape of the reference
system's compute loop, with the same rules and every figure of a packet, used only to
measure the speed-up of the columnar version honestly (and to check that both agree)."""

from __future__ import annotations

from collections import deque
from typing import Any

import polars as pl

from assets.thresholds import PacketRules

#: The ``option_prints`` columns the loop reads, in the order it unpacks them.
COLUMNS = (
    "date", "contract", "underlying", "expiry", "strike", "right", "multiplier", "complex",
    "ts_event", "event_id", "exchange", "price", "size", "premium", "placement", "iso", "late",
    "auction_or_cross", "floor", "nbbo_bid", "nbbo_ask", "aggressor_eligible",
)  # fmt: skip


def _kind(p: dict[str, Any], n_ex: int, params: PacketRules) -> str:
    """Return the packet's kind (docs/rules.md rule 5)."""
    if p["complex"]:
        return "complex"
    if p["n"] >= params.sweep_min_count and n_ex >= params.sweep_min_exchanges:
        return "sweep"
    if p["max_size"] >= params.block_min_size:
        return "block"
    if p["n"] >= 2 and n_ex == 1:
        return "split"
    return "single"


def _side(complex_: bool, buy_ratio: float | None) -> str:
    """Return ``buy``/``sell``/``mixed`` from the buy ratio, ``none`` without one."""
    if complex_ or buy_ratio is None:
        return "none"
    if buy_ratio > 0.5:
        return "buy"
    return "sell" if buy_ratio < 0.5 else "mixed"


def packets_row_by_row(prints: pl.DataFrame, params: PacketRules) -> list[dict[str, Any]]:
    """Return every packet as a dict of the ``flow_packets`` columns (``event_ids`` a list),
    in (contract, complex, start_ts) order."""
    window = int(params.cluster_window_ms) * 1_000_000
    burst = int(params.burst_window_ms) * 1_000_000
    rows = prints.filter(pl.col("in_flow")).sort("contract", "complex", "ts_event", "seq")
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None

    def close(p: dict[str, Any]) -> None:
        directional = p["AA"] + p["A"] + p["B"] + p["BB"]
        n_ex = len(p["exchanges"])
        buy_ratio = (p["AA"] + p["A"]) / directional if directional else None
        bid, ask = p["nbbo_bid"], p["nbbo_ask"]
        out.append({
            "packet_id": p["contract"].replace(" ", "") + "@" + p["ids"][0], **p["head"],
            "start_ts": p["start"], "end_ts": p["end"], "kind": _kind(p, n_ex, params),
            "complex": p["complex"], "side": _side(p["complex"], buy_ratio), "n_prints": p["n"],
            "n_exchanges": n_ex, "size": p["size"], "max_print_size": p["max_size"],
            "premium": p["premium"], "vwap": p["notional"] / p["size"], "n_aa": p["AA"],
            "n_a": p["A"], "n_mid": p["MID"], "n_b": p["B"], "n_bb": p["BB"], "n_none": p["NONE"],
            "nbbo_coverage": p["placed"] / p["n"], "buy_ratio": buy_ratio, "iso_count": p["iso"],
            "has_late": p["late"], "has_auction_or_cross": p["auction_or_cross"],
            "has_floor": p["floor"], "max_burst": p["max_burst"],
            "spread": ask - bid if ask is not None and bid is not None else None,
            "nbbo_bid": bid, "nbbo_ask": ask, "event_ids": p["ids"],
        })  # fmt: skip

    for (
        date, contract, underlying, expiry, strike, right, multiplier, complex_, ts, event_id,
        exchange, price, size, premium, placement, iso, late, auction_or_cross, floor, bid, ask,
        eligible,
    ) in rows.select(COLUMNS).iter_rows():  # fmt: skip
        if cur is None or (contract, complex_) != cur["key"] or ts - cur["start"] > window:
            if cur is not None:
                close(cur)
            cur = {"key": (contract, complex_), "contract": contract, "complex": complex_, "start": ts, "ids": [],
                   "head": {"date": date, "contract": contract, "underlying": underlying, "expiry": expiry, "strike": strike,
                            "right": right, "multiplier": multiplier},
                   "nbbo_bid": bid, "nbbo_ask": ask, "exchanges": set(), "n": 0, "size": 0, "premium": 0.0,
                   "notional": 0.0, "max_size": 0, "iso": 0, "late": False, "auction_or_cross": False, "floor": False,
                   "AA": 0, "A": 0, "MID": 0, "B": 0, "BB": 0, "NONE": 0, "placed": 0, "recent": deque(), "max_burst": 0}  # fmt: skip
        cur["end"] = ts
        cur["ids"].append(event_id)
        cur["exchanges"].add(exchange)
        cur["n"] += 1
        cur["size"] += size
        cur["premium"] += premium
        cur["notional"] += price * size
        cur["max_size"] = max(cur["max_size"], size)
        cur["iso"] += int(iso)
        cur["late"] = cur["late"] or late
        cur["auction_or_cross"] = cur["auction_or_cross"] or auction_or_cross
        cur["floor"] = cur["floor"] or floor
        cur[placement if eligible or complex_ else "NONE"] += 1  # rule 4: the aggressor mix
        cur["placed"] += placement != "NONE"  # the NBBO coverage
        if not floor:
            recent = cur["recent"]
            recent.append(ts)
            while recent[0] < ts - burst:
                recent.popleft()
            cur["max_burst"] = max(cur["max_burst"], len(recent))
    if cur is not None:
        close(cur)
    return out


def as_frame(packets: list[dict[str, Any]], schema: pl.Schema) -> pl.DataFrame:
    """Return the row-by-row ``packets`` as a frame of the ``flow_packets`` ``schema``,
    sorted by ``packet_id`` (unique per day) so that both builders line up."""
    return pl.DataFrame(packets, schema=schema).sort("packet_id")
