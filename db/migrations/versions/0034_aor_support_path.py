"""Issue 17 (several nodes behind a SIP edge): members' AORs accept a Path header.

Behind Kamailio (docker/multinode.yaml), a phone registers through the edge, which adds a Path
header naming itself (RFC 3327). With `support_path = yes` on the AOR, Asterisk stores that path
with the contact (ps_contacts.path) and sends every request for the phone through the edge, from
whichever Asterisk node makes the call: the phone only ever sees the edge's address. A phone that
registers directly (one node, no edge) sends no Path, and nothing changes for it.

Carriers' AORs (a static contact) keep no path. The view is wrapped rather than rewritten:
ps_aors_v0020 is 0020's definition, unchanged, and ps_aors adds the column.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05
"""

from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER VIEW ps_aors RENAME TO ps_aors_v0020;
CREATE VIEW ps_aors AS
    SELECT a.*,
           (CASE WHEN a.contact IS NULL THEN 'yes' END)::ast_bool_values AS support_path
      FROM ps_aors_v0020 a;
"""
    )


def downgrade() -> None:
    op.execute(
        """
DROP VIEW ps_aors;
ALTER VIEW ps_aors_v0020 RENAME TO ps_aors;
"""
    )
