"""The asset lists: landing, the derived assets in build order, the market-wide ones, and
the resources they need. The code locations, the live tail build and the tests take their
assets from here."""

from __future__ import annotations

from assets.alert_outcomes import alert_outcomes
from assets.alerts import alerts
from assets.classifier_hits import classifier_hits
from assets.contract_baselines import contract_baselines
from assets.contract_volume import contract_volume
from assets.dark_inferences import dark_inferences
from assets.equity_candles import equity_candles
from assets.equity_prints import equity_prints
from assets.flow_packets import flow_packets
from assets.gamma_exposure import gamma_exposure
from assets.landing import landing
from assets.market_tide import market_tide
from assets.option_prints import option_prints
from assets.packet_positioning import packet_positioning
from assets.resources import LakeResource, ThresholdsResource
from assets.signal_accuracy import signal_accuracy
from assets.sources import SelectableSource
from assets.structures import structures

LANDING = landing
DERIVED = [
    option_prints,
    flow_packets,
    structures,
    contract_baselines,
    classifier_hits,
    alerts,
    equity_prints,
    equity_candles,
    dark_inferences,
    market_tide,
    signal_accuracy,
    alert_outcomes,
    contract_volume,
    packet_positioning,
    gamma_exposure,
]
#: Market-wide assets: not split by bucket of underlyings (see assets/scope.py).
CROSS_BUCKET = {market_tide.key, signal_accuracy.key}

#: The resources every run gets unless it says otherwise.
RESOURCES = {
    "lake": LakeResource(),
    "thresholds": ThresholdsResource(),
    "source": SelectableSource(),
}
