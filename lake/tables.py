"""What the lake's tables mean by some of their values, for the assets that write them and
the dashboards and tools that read them."""

from __future__ import annotations

#: ``market_tide``'s market-wide rows: their ``underlying``.
MARKET = "MARKET"

#: The columns that identify a row of each derived table within a day.
DERIVED_KEYS: dict[str, list[str]] = {
    "option_prints": ["event_id"], "flow_packets": ["packet_id"], "structures": ["structure_id"],
    "contract_baselines": ["contract"], "classifier_hits": ["hit_id"], "alerts": ["alert_id"],
    "equity_prints": ["event_id"], "equity_candles": ["symbol", "interval", "ts"],
    "dark_inferences": ["inference_id"], "market_tide": ["underlying", "ts"],
    "packet_positioning": ["packet_id"], "alert_outcomes": ["alert_id"], "contract_volume": ["contract"],
    "signal_accuracy": ["config_version", "signal"], "gamma_exposure": ["ts", "underlying"],
}  # fmt: skip
