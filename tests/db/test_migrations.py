"""Alembic migrations: upgrade to head and downgrade to base on a fresh database, and the
migrations describe exactly what the models say."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from db import migrate
from db.models import Base


@pytest.fixture()
def scratch(database):
    settings = dataclasses.replace(database, db_name=database.db_name + "_mig")
    migrate.create_database(settings, drop_first=True)
    yield settings
    migrate.drop_database(settings)


def _names(settings):
    engine = create_engine(settings.database_url)
    try:
        insp = inspect(engine)
        return set(insp.get_table_names()), set(insp.get_view_names())
    finally:
        engine.dispose()


def test_migrations_upgrade_to_head_and_downgrade_to_base_on_fresh_database(scratch):
    migrate.upgrade(scratch)
    tables, views = _names(scratch)
    assert {
        "accounts",
        "users",
        "virtual_numbers",
        "dids",
        "cdr",
        "cdr_charges",
        "ps_contacts",
        "credit_lots",
        "rates",
        "conferences",
        "voicemail_messages",
        "audit_log",
    } <= tables
    assert views >= {"ps_endpoints", "ps_auths", "ps_aors"}

    migrate.downgrade(scratch, "base")
    tables, views = _names(scratch)
    assert tables <= {"alembic_version"} and not views
    with psycopg.connect(scratch.database_url.replace("postgresql+psycopg", "postgresql")) as conn:
        leftover = conn.execute(
            "SELECT typname FROM pg_type WHERE typname IN ('ast_bool_values', 'pjsip_dtmf_mode_values_v3')"
        ).fetchall()
    assert leftover == []

    migrate.upgrade(scratch)  # and up again, cleanly
    assert "accounts" in _names(scratch)[0]


def test_models_match_migrations(database):
    engine = create_engine(database.database_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    # Asterisk's own index/constraint names on ps_contacts differ from our naming convention
    meaningful = [
        d
        for d in diff
        if not (
            isinstance(d, tuple)
            and d[0] in ("remove_index", "add_index", "remove_constraint", "add_constraint")
            and "ps_contacts" in str(d)
        )
    ]
    assert meaningful == []


def test_realtime_views_publish_only_md5_cred(database):
    """Members' auths publish only md5_cred (no plain SIP password is stored); the view's
    `password` column carries carriers' outbound passwords (issue 14, migration 0020)."""
    engine = create_engine(database.database_url)
    try:
        cols = {c["name"] for c in inspect(engine).get_columns("ps_auths")}
        with engine.connect() as conn:
            member_columns = set(
                conn.exec_driver_sql(
                    "SELECT column_name FROM information_schema.view_column_usage"
                    " WHERE view_name = 'ps_auths' AND table_name = 'virtual_numbers'"
                ).scalars()
            )
    finally:
        engine.dispose()
    assert "md5_cred" in cols
    assert member_columns == {"number", "sip_md5_cred"}
