"""Turning a user's two-factor login off (issue 16): the one place that clears it.

The member's own "Turn off" (webpanel/twofactor, after their password and a code) and the
operator's `voipctl user 2fa-reset LOGIN` (a member who lost both the phone and the recovery
codes) both end here: the encrypted secret, the last used step, every recovery code and every
remembered browser go (browsers stay known, for the new-sign-in email).
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from db.audit import audit
from db.models import User, UserDevice, UserRecoveryCode


def is_on(user: User) -> bool:
    """Two-factor login is on for `user` (confirmed, with a secret)."""
    return user.totp_enabled_at is not None and bool(user.totp_secret_enc)


def forget_remembered(session: Session, user_id: int) -> None:
    session.execute(
        update(UserDevice)
        .where(UserDevice.user_id == user_id, UserDevice.remember_until.is_not(None))
        .values(remember_until=None)
        .execution_options(synchronize_session=False)
    )


def turn_off(session: Session, user: User) -> None:
    user.totp_secret_enc = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(delete(UserRecoveryCode).where(UserRecoveryCode.user_id == user.id))
    forget_remembered(session, user.id)
    session.flush()


def operator_reset(session: Session, user: User, *, remote_addr: str = "voipctl") -> bool:
    """The operator turns it off for a user who cannot log in; False if it was off."""
    was_on = user.totp_secret_enc is not None
    turn_off(session, user)
    audit(
        session,
        "user.2fa_reset",
        actor=None,
        account_id=user.account_id,
        obj=user,
        details={"was_on": was_on},
        remote_addr=remote_addr,
    )
    session.flush()
    return was_on
