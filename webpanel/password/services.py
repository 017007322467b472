"""Change Password: the panel login's own password.

The new password must be at least 10 characters, mix letters with digits or symbols, and not
contain the login. Changing it bumps users.session_version, which ends every other session of
the user (access.load_logged_in_user compares it on each request); the caller re-issues the
current session with the new version so the member stays logged in here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.rules import secrets as sec
from db.audit import audit
from db.errors import ServiceError
from db.models import AuditLog, User
from webpanel.i18n import _
from webpanel.validation import FieldErrors

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 on a megabyte would be a cheap denial of service
# wrong old passwords allowed per window: a stolen session must not become a password oracle
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)


def check_strength(password: str, login: str) -> list[str]:
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(_("A password has at least %(count)s characters.", count=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        problems.append(_("A password has at most %(count)s characters.", count=MAX_LENGTH))
    if password.isdigit():
        problems.append(_("A password cannot be all digits; mix in letters or symbols."))
    elif password.isalpha():
        problems.append(_("A password cannot be all letters; mix in digits or symbols."))
    if login and login.casefold() in password.casefold():
        problems.append(_("A password cannot contain your login (your virtual number)."))
    if password != password.strip():
        problems.append(_("A password cannot start or end with a space."))
    return problems


def change_password(
    session: Session, user: User, old: str, new: str, retype: str, *, remote_addr: str = ""
) -> int:
    """Returns the new session version. Raises FieldErrors naming the wrong fields."""
    since = dt.datetime.now(dt.UTC) - FAILURE_WINDOW
    failures = session.scalars(
        select(func.count())
        .select_from(AuditLog)
        .where(
            AuditLog.actor_user_id == user.id,
            AuditLog.action == "user.password_change_failed",
            AuditLog.at > since,
        )
    ).one()
    if failures >= MAX_FAILURES:
        raise FieldErrors(
            {
                "old_password": [
                    _(
                        "Too many wrong old passwords. Please try again in %(minutes)s minutes.",
                        minutes=FAILURE_WINDOW.seconds // 60,
                    )
                ]
            }
        )
    if not sec.verify_password(user.password_hash, old or ""):
        audit(
            session,
            "user.password_change_failed",
            actor=user,
            account_id=user.account_id,
            obj=user,
            remote_addr=remote_addr,
        )
        session.flush()
        raise FieldErrors({"old_password": [_("Your old password is not correct.")]})
    errors: dict[str, list[str]] = {}
    problems = check_strength(new or "", user.login)
    if problems:
        errors["new_password"] = problems
    elif new == old:
        errors["new_password"] = [_("The new password must differ from the old one.")]
    if new != retype:
        errors["retype"] = [_("The new password and its retype do not match.")]
    if errors:
        raise FieldErrors(errors)
    user.password_hash = sec.hash_password(new)
    user.session_version += 1
    session.flush()
    audit(
        session,
        "user.password_change",
        actor=user,
        account_id=user.account_id,
        obj=user,
        remote_addr=remote_addr,
    )
    return user.session_version


__all__ = ["ServiceError", "change_password", "check_strength"]
