"""Alembic for each service: its own script folder and its own version table.

`services/<name>/migrations/env.py` calls `run_env`; code and the `pingyi
migrate` command call `upgrade`.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from shared.db import make_engine, normalise_url

SERVICES = ("voting", "scoring", "tracking")


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def alembic_config(service: str, database_url: str) -> Config:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    package = import_module(f"services.{service}")
    script_location = Path(package.__file__).parent / "migrations"
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    config.attributes["service"] = service
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def downgrade(service: str, database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(service, database_url), revision)


def run_env(context, target_metadata: MetaData, service: str) -> None:
    """The body of every service's env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    options = dict(
        target_metadata=target_metadata,
        version_table=version_table(service),
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
