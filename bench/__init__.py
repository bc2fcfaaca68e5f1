"""Benchmarks: full-day throughput per asset, the floor, scaling, and a row-by-row comparison."""
