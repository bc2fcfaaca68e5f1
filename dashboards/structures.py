"""The Structures page's rows: one line per multi-leg structure, its legs spelled out."""

from __future__ import annotations

import polars as pl

DIRECTIONS = ("all", "bullish", "bearish", "none")


def with_legs(structures: pl.DataFrame) -> pl.DataFrame:
    """Return ``structures`` with ``legs``: each leg's side and contract, "buy A 1C + sell A 2C".

    Examples
    --------
    >>> frame = pl.DataFrame({"structure_id": ["S1"], "sides": [["buy", "sell"]],
    ...                       "contracts": [["A     1C", "A     2C"]]})
    >>> with_legs(frame).get_column("legs").to_list()
    ['buy A 1C + sell A 2C']
    """
    legs = (
        structures.select("structure_id", "sides", "contracts")
        .explode("sides", "contracts")
        .group_by("structure_id", maintain_order=True)
        .agg(
            pl.format("{} {}", "sides", pl.col("contracts").str.replace_all(r"\s+", " "))
            .str.join(" + ")
            .alias("legs")
        )
    )
    return structures.join(legs, on="structure_id", how="left", maintain_order="left")


def leg_table(structure: dict, packets: pl.DataFrame) -> pl.DataFrame:
    """Return one row per leg of ``structure`` (a row of the structures table): its side,
    contract, expiry, strike, right, size and premium from the leg's packet."""
    legs = pl.DataFrame(
        {"packet_id": structure["packet_ids"], "leg_side": structure["sides"]},
        schema={"packet_id": pl.String, "leg_side": pl.String},
    )
    return legs.join(packets, on="packet_id", how="left", maintain_order="left").select(
        pl.col("leg_side").alias("side"), "contract", "expiry", "strike", "right", "kind",
        "size", pl.col("premium").round(0), "vwap", "packet_id",
    )  # fmt: skip
