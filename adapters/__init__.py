"""Sources -> canonical raw batches (DESIGN.md §1-2). Imports nothing from ``assets``."""
