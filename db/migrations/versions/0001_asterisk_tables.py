"""Asterisk-owned tables: ps_contacts (written by res_pjsip's registrar) and cdr (written by
cdr_pgsql), with Asterisk 22's column names and types (contrib/ast-db-manage), plus our
own `id` and `vnum` columns on cdr (cdr_pgsql fills unknown columns from CDR variables).

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AST_BOOL = ("0", "1", "off", "on", "false", "true", "no", "yes")


def upgrade() -> None:
    ast_bool = postgresql.ENUM(*AST_BOOL, name="ast_bool_values")
    ast_bool.create(op.get_bind())
    ast_bool = postgresql.ENUM(*AST_BOOL, name="ast_bool_values", create_type=False)

    op.create_table(
        "ps_contacts",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("uri", sa.String(511)),
        sa.Column("expiration_time", sa.BigInteger()),
        sa.Column("qualify_frequency", sa.Integer()),
        sa.Column("outbound_proxy", sa.String(255)),
        sa.Column("path", sa.Text()),
        sa.Column("user_agent", sa.String(255)),
        sa.Column("qualify_timeout", sa.Float()),
        sa.Column("reg_server", sa.String(255)),
        sa.Column("authenticate_qualify", ast_bool),
        sa.Column("via_addr", sa.String(40)),
        sa.Column("via_port", sa.Integer()),
        sa.Column("call_id", sa.String(255)),
        sa.Column("endpoint", sa.String(255)),
        sa.Column("prune_on_boot", ast_bool),
        sa.Column("qualify_2xx_only", ast_bool),
        sa.UniqueConstraint("id", name="ps_contacts_id_key"),
        sa.UniqueConstraint("id", "reg_server", name="ps_contacts_uq"),
    )
    op.create_index("ps_contacts_qualifyfreq_exp", "ps_contacts", ["qualify_frequency", "expiration_time"])
    op.create_index("ps_contacts_endpoint", "ps_contacts", ["endpoint"])

    op.create_table(
        "cdr",
        # bigserial, not an identity column: cdr_pgsql leaves out columns that have a default,
        # but sends '' for a NOT NULL column without one (identity columns have none in pg_attrdef)
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("accountcode", sa.String(80)),
        sa.Column("src", sa.String(80)),
        sa.Column("dst", sa.String(80)),
        sa.Column("dcontext", sa.String(80)),
        sa.Column("clid", sa.String(80)),
        sa.Column("channel", sa.String(80)),
        sa.Column("dstchannel", sa.String(80)),
        sa.Column("lastapp", sa.String(80)),
        sa.Column("lastdata", sa.String(80)),
        # timestamptz, not Asterisk's plain timestamp: cdr_pgsql writes UTC wall-clock time
        # (timezone = UTC in cdr_pgsql.conf) and the database's session zone is UTC
        sa.Column("start", sa.DateTime(timezone=True)),
        sa.Column("answer", sa.DateTime(timezone=True)),
        sa.Column("end", sa.DateTime(timezone=True)),
        sa.Column("duration", sa.Integer()),
        sa.Column("billsec", sa.Integer()),
        sa.Column("disposition", sa.String(45)),
        sa.Column("amaflags", sa.String(45)),
        sa.Column("userfield", sa.String(256)),
        sa.Column("uniqueid", sa.String(150)),
        sa.Column("linkedid", sa.String(150)),
        sa.Column("peeraccount", sa.String(80)),
        sa.Column("sequence", sa.Integer()),
        sa.Column("vnum", sa.String(40)),
        sa.PrimaryKeyConstraint("id", name="pk_cdr"),
    )
    op.create_index("ix_cdr_accountcode_start", "cdr", ["accountcode", "start"])
    op.create_index("ix_cdr_vnum_start", "cdr", ["vnum", "start"])
    op.create_index("ix_cdr_dst_start", "cdr", ["dst", "start"])
    op.create_index("ix_cdr_uniqueid", "cdr", ["uniqueid"])


def downgrade() -> None:
    op.drop_table("cdr")
    op.drop_table("ps_contacts")
    postgresql.ENUM(name="ast_bool_values").drop(op.get_bind())
