"""PIN model: calling-card and conference PINs with no oracle (issue 13)

Calling-card PINs are no longer unique across the service: the caller names the card (its
virtual number) and then keys its PIN, so two members may choose the same PIN, and the panel
never answers "that PIN is taken". The unique constraint on virtual_numbers.pin_hmac goes.

Existing hashes cannot be recomputed (the PINs are not known): rows keep the old form,
pin_hmac(key, pin), and agi/callingcard.py accepts it for that one card and rewrites it in the
new form, secrets.card_pin_hmac(key, card id, pin), on the first good login (setting a PIN in
the panel writes the new form too). No data changes here.

Downgrade puts the constraint back. New-form hashes are never equal to each other (each is
keyed by its card), so it cannot fail on them; but the old code only knows the old form, so
after a downgrade members whose PIN was set or upgraded since must set it again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("uq_virtual_numbers_pin_hmac", "virtual_numbers", type_="unique")


def downgrade() -> None:
    op.create_unique_constraint("uq_virtual_numbers_pin_hmac", "virtual_numbers", ["pin_hmac"])
