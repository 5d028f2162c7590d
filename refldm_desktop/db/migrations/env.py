"""Alembic environment. The app passes its open connection in `config.attributes`; the
`alembic` command line (for writing new migrations) passes a database path with
`-x db=PATH` instead."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from refldm_desktop.db.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from refldm_desktop.db.engine import make_engine

    db = context.get_x_argument(as_dictionary=True).get("db")
    if not db:
        raise SystemExit("give the database to migrate: alembic -x db=PATH ...")
    engine = make_engine(db)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
