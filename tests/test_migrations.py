"""Each service's Alembic history builds exactly its models' schema, on SQLite
and Postgres, and tears it down again."""

from __future__ import annotations

from importlib import import_module

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from shared.db import make_engine
from shared.ops.migrations import SERVICES, alembic_config, downgrade, upgrade, version_table


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def drift(service: str, url: str, metadata) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            # The service's own version table, as env.py configures it, so that
            # alembic does not report it as a table the models lack.
            context = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": version_table(service)})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_build_the_models_schema_and_tear_it_down(service: str, backend: str, fresh_database_url) -> None:
    metadata = import_module(f"services.{service}.models").Base.metadata
    url = fresh_database_url(backend, service)
    assert table_names(url) == set()

    upgrade(service, url)
    tables = table_names(url)
    assert set(metadata.tables) <= tables
    assert tables == set(metadata.tables) | {version_table(service)}
    assert {"inbox", "outbox"} <= tables

    # Models and migrations agree: autogenerate finds nothing to do.
    assert drift(service, url, metadata) == []

    # Upgrading again is a no-op.
    upgrade(service, url)
    assert table_names(url) == tables

    downgrade(service, url)
    assert table_names(url) <= {version_table(service)}

    # And the history can be replayed.
    upgrade(service, url)
    assert table_names(url) == tables
    assert drift(service, url, metadata) == []


@pytest.mark.parametrize("service", SERVICES)
def test_the_version_table_records_the_head_revision(service: str, backend: str, fresh_database_url) -> None:
    url = fresh_database_url(backend, service)
    upgrade(service, url)
    head = ScriptDirectory.from_config(alembic_config(service, url)).get_current_head()
    assert head is not None
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": version_table(service)})
            assert context.get_current_revision() == head
    finally:
        engine.dispose()
    downgrade(service, url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": version_table(service)})
            assert context.get_current_revision() is None
    finally:
        engine.dispose()


def test_the_drift_check_does_see_a_difference(backend: str, fresh_database_url) -> None:
    """Guard against a vacuous drift check: a model change is noticed."""
    from sqlalchemy import Column, MetaData, String

    from services.scoring.models import Base

    url = fresh_database_url(backend, "scoring")
    upgrade("scoring", url)
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["satisfaction_results"].append_column(Column("note", String(50)))
    changed.tables["outbox"].c.topic.type = String(150)
    diffs = drift("scoring", url, changed)
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in diffs}
    assert "add_column" in kinds
    assert "modify_type" in kinds
