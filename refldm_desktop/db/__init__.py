"""SQLAlchemy models, sessions and Alembic migrations of the identity database."""
