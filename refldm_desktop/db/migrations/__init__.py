"""Alembic migrations of the identity database (run by refldm_desktop.db.engine.upgrade)."""
