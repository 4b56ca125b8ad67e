"""Alembic environment for payguard's relational store.

`payguard.adapters.sql.engine.migrate` hands over an open connection (already in a
transaction) through `config.attributes["connection"]`; the `alembic` command line works too,
given `-x url=...` or `sqlalchemy.url` in its ini file.
"""

from __future__ import annotations

from alembic import context

from payguard.adapters.sql.engine import create_sql_engine
from payguard.adapters.sql.tables import metadata

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_sql_engine(_url(), pool_size=1)
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
