"""Pure polars transforms and the thin Dagster assets that call them (one concept per module)."""
