"""Sources -> canonical raw batches (docs/rules.md: the raw data). Imports nothing from ``assets``."""
