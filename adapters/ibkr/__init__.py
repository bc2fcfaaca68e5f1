"""Interactive Brokers: a single-underlying options bridge over the TWS / Gateway API (ib_insync)."""
