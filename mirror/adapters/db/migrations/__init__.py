"""Alembic migrations of the mirror's schema (``env.py`` and ``versions/``), run by
:mod:`mirror.adapters.db.schema`; located with :mod:`importlib.resources`, so an installed wheel has them."""
