"""Deterministic synthetic S&P 500 market: the default source, and labelled ground truth."""

from adapters.synthetic.market import SyntheticDay, SyntheticSpec, generate_day

__all__ = ["SyntheticDay", "SyntheticSpec", "generate_day"]
