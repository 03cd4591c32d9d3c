"""Analyses: pure functions that take xarray / arrays in and give labelled
xarray / pandas results out, with no I/O inside (stores are read and written by
:mod:`goalstore.store`)."""
