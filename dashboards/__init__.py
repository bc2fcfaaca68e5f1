"""Streamlit dashboards: read the lake through ``lake.read``, never write it."""
