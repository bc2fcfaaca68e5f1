"""Dagster wiring, resources, thresholds and the ``flowlake`` command line."""
