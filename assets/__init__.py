"""Pure polars transforms and the thin Dagster assets that call them (one concept per module).

Importing the package changes no process setting: entry points call
:func:`assets.runtime.configure_process`.
"""
