"""Databento: OPRA and equities from DBN files and the historical API."""
