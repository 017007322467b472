"""Alembic from Python: create the database if needed, upgrade, downgrade."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql

from controller.settings import Settings

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def _admin_conninfo(settings: Settings) -> str:
    return psycopg.conninfo.make_conninfo(
        host=settings.db_host,
        port=settings.db_port,
        user=settings.db_user,
        password=settings.db_password or None,
        dbname="postgres",
    )


def create_database(settings: Settings, drop_first: bool = False) -> bool:
    """Create the database (UTC session time zone: Asterisk's cdr_pgsql writes UTC wall-clock
    times). Returns True when it was created."""
    with psycopg.connect(_admin_conninfo(settings), autocommit=True) as conn:
        if drop_first:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(settings.db_name))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings.db_name,)).fetchone()
        if exists:
            return False
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(settings.db_name)
            )
        )
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET timezone TO 'UTC'").format(sql.Identifier(settings.db_name))
        )
        return True


def drop_database(settings: Settings) -> None:
    with psycopg.connect(_admin_conninfo(settings), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(settings.db_name))
        )


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings.database_url), revision)


def downgrade(settings: Settings, revision: str = "base") -> None:
    command.downgrade(alembic_config(settings.database_url), revision)
