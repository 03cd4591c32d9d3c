"""Loaders and generators that turn external data into canonical stores.

Each module handles one source format and returns objects that pass
:func:`goalstore.schema.validate`; nothing here writes to a store.
"""
