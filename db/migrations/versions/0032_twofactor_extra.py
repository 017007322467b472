"""Issue 16, two-factor part: a new password forgets every remembered device.

"Remember this device for 30 days" (user_devices.remember_until) skips the two-factor code
step. Whoever changes a password (the member's Change Password, a reset link, the operator,
voipctl) must also end that: a trigger on users.password_hash clears remember_until of the
user's devices, so no code path can forget to (sessions already end via session_version).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-05
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION users_password_forgets_devices() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE user_devices SET remember_until = NULL
             WHERE user_id = NEW.id AND remember_until IS NOT NULL;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER users_password_forgets_devices
        AFTER UPDATE OF password_hash ON users
        FOR EACH ROW WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash)
        EXECUTE FUNCTION users_password_forgets_devices()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS users_password_forgets_devices ON users")
    op.execute("DROP FUNCTION IF EXISTS users_password_forgets_devices()")
