"""Figures of analysis results (matplotlib, non-interactive Agg backend).

Each module takes result stores (``xarray.Dataset``) and writes PNG files; the
analyses themselves never draw or write.
"""
