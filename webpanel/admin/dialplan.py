"""The generated dialplan and the admin's overrides of it: view, validate, apply, history, rollback.

What is overridable, and what is refused, is asterisk_conf.overrides' rule (the same text the
renderer writes as extensions_admin.conf). Applying a version is two steps, the database first
(issue 13 item 9: the file used to be written and reloaded before the row was saved, so a failed
commit left Asterisk running a version nobody could see, audit or roll back):

1. `apply()`: validates the text against the extensions.conf the templates render now (every
   problem, by line), checks that Asterisk's config dir includes the admin file, takes a
   transaction-scoped advisory lock and records the version and its audit row; the caller
   commits, and nothing outside the database has changed yet;
2. `publish()`, only after that commit: under the same lock, writes the newest committed version
   into Asterisk's config dir (atomically: temp file + rename), `dialplan reload` over AMI, then
   `dialplan show` of each context the change touches: every extension it defines must be live,
   every one it dropped must be gone.

The database is the source of truth: if the reload or the check fails, the version stays saved
(and in the file, which is what Asterisk loads at its next reload or restart, and what a config
render writes), and the admin is told so, with the reason; rolling back is applying an older
version again.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
import time
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from asterisk_conf import overrides
from asterisk_conf.render import render_all
from controller.services.ami import AMIError, AMISession
from controller.settings import Settings
from db.audit import audit
from db.errors import ServiceError
from db.models import DialplanVersion, User
from webpanel.i18n import _

LOCK_KEY = 7_008_001  # pg_advisory_xact_lock: one dialplan apply at a time
INCLUDE_LINE = f"#tryinclude {overrides.ADMIN_FILE}"
VERIFY_SECONDS = 5.0


class ApplyFailed(ServiceError):
    """Asterisk (or its config dir) did not take the version; the previous one is back in place."""


class DialplanRejected(ServiceError):
    """The text failed validation: `problems` lists every one, by line."""

    def __init__(self, problems: list[overrides.Problem]):
        super().__init__(
            _("The dialplan overrides were not applied: %(count)s problem(s).", count=len(problems))
        )
        self.problems = problems


def normalize(body: str) -> str:
    lines = [line.rstrip() for line in (body or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + ("\n" if lines else "")


def generated(settings: Settings) -> str:
    """extensions.conf as the templates render it with the current settings."""
    return render_all(settings)["extensions.conf"]


def validate(settings: Settings, body: str) -> list[overrides.Problem]:
    return overrides.validate(normalize(body), generated=generated(settings))


def current(session: Session) -> DialplanVersion | None:
    return session.scalar(select(DialplanVersion).order_by(DialplanVersion.id.desc()).limit(1))


def history(session: Session, limit: int = 100) -> list[tuple[DialplanVersion, str]]:
    rows = session.execute(
        select(DialplanVersion, User.login)
        .outerjoin(User, User.id == DialplanVersion.applied_by_user_id)
        .order_by(DialplanVersion.id.desc())
        .limit(limit)
    )
    return [(v, login or "") for v, login in rows]


def diff(before: str, after: str, before_name: str, after_name: str) -> str:
    return "\n".join(
        difflib.unified_diff(before.splitlines(), after.splitlines(), before_name, after_name, lineterm="")
    )


def config_path(settings: Settings) -> Path:
    return Path(settings.asterisk_config_dir) / overrides.ADMIN_FILE


def apply(
    session: Session,
    settings: Settings,
    admin: User,
    body: str,
    comment: str = "",
    *,
    rollback_of: DialplanVersion | None = None,
    remote_addr: str = "",
) -> DialplanVersion:
    """Record a validated version and its audit row (flushed, not committed). Nothing is written
    to Asterisk here: the caller commits, then calls `publish()`."""
    body = normalize(body)
    comment = " ".join((comment or "").split())[:200]
    problems = overrides.validate(body, generated=generated(settings))
    if problems:
        raise DialplanRejected(problems)
    _check_included(config_path(settings).parent)  # a config dir that cannot take it: record nothing
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    before = current(session)
    before_body = before.body if before else ""
    version = DialplanVersion(
        body=body,
        sha256=hashlib.sha256(body.encode()).hexdigest(),
        comment=comment,
        source="rollback" if rollback_of else "edit",
        rolled_back_to_id=rollback_of.id if rollback_of else None,
        applied_by_user_id=admin.id,
    )
    session.add(version)
    session.flush()
    audit(
        session,
        "admin.dialplan_rollback" if rollback_of else "admin.dialplan_apply",
        actor=admin,
        obj=version,
        details={
            "version": version.id,
            "sha256": version.sha256,
            "comment": comment,
            "previous_version": before.id if before else None,
            "rolled_back_to": rollback_of.id if rollback_of else None,
            "diff": diff(before_body, body, "before", "after")[:4000],
        },
        remote_addr=remote_addr,
    )
    return version


def publish(session: Session, settings: Settings) -> DialplanVersion | None:
    """After the commit of `apply()`: write the newest committed version into Asterisk's config
    dir and have Asterisk reload and run it. Under the advisory lock (its own transaction, ended
    here), so two admins' writes never interleave, and whoever publishes last writes the newest.
    Raises ApplyFailed, the version staying saved, when Asterisk does not take it."""
    try:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        latest = current(session)
        body = latest.body if latest else ""
        path = config_path(settings)
        try:
            previous_file = path.read_text() if path.exists() else ""
            _write(path, overrides.file_text(body))
            _reload_and_verify(settings, body, previous_file)
        except (AMIError, ServiceError, OSError) as exc:
            raise ApplyFailed(
                _(
                    "Version %(id)s is saved, but Asterisk did not load it: %(reason)s. It is in "
                    "%(file)s, which Asterisk loads at its next reload or restart; roll back to an "
                    "earlier version if it must not run.",
                    id=latest.id if latest else 0,
                    reason=(str(exc) if not isinstance(exc, OSError) else exc.__class__.__name__).rstrip("."),
                    file=overrides.ADMIN_FILE,
                )
            ) from None
        return latest
    finally:
        session.rollback()  # ends the lock's transaction (nothing was written in it)


def rollback(
    session: Session, settings: Settings, admin: User, version: DialplanVersion, *, remote_addr: str = ""
) -> DialplanVersion:
    """Apply an older version again (validated and checked like any apply) as a new version."""
    latest = current(session)
    if latest is not None and latest.id == version.id:
        raise ServiceError(_("Version %(id)s is the one applied now.", id=version.id))
    return apply(
        session,
        settings,
        admin,
        version.body,
        _("Rollback to version %(id)s", id=version.id),
        rollback_of=version,
        remote_addr=remote_addr,
    )


def _check_included(config_dir: Path) -> None:
    main = config_dir / "extensions.conf"
    try:
        included = INCLUDE_LINE in main.read_text()
    except OSError as exc:
        raise ApplyFailed(
            _(
                "Asterisk's extensions.conf cannot be read in %(dir)s (%(error)s); set "
                "VOIP_ASTERISK_CONFIG_DIR to Asterisk's config dir.",
                dir=str(config_dir),
                error=exc.__class__.__name__,
            )
        ) from None
    if not included:
        raise ApplyFailed(
            _(
                "The extensions.conf in %(dir)s does not include %(file)s: render the "
                "configuration again (voipctl asterisk-config render) before applying.",
                dir=str(config_dir),
                file=overrides.ADMIN_FILE,
            )
        )


def _write(path: Path, content: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".extensions_admin.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _live_extensions(ami: AMISession, context: str) -> str:
    return ami.command(f"dialplan show {context}", check=False)  # a context not (or no longer) there


def _reload_and_verify(settings: Settings, body: str, before_body: str) -> None:
    new = overrides.parse(body, strict=False)
    old = overrides.parse(before_body, strict=False)
    expected = {(e.context, e.exten) for e in new.extensions()}
    dropped = {(e.context, e.exten) for e in old.extensions()} - expected
    with AMISession(settings) as ami:
        ami.command("dialplan reload")
        deadline = time.monotonic() + VERIFY_SECONDS
        while True:
            missing, lingering = _compare(ami, expected, dropped)
            if not missing and not lingering:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    if missing:
        raise ServiceError(
            _(
                "after the reload Asterisk does not run %(list)s.",
                list=", ".join(f"{e}@{c}" for c, e in sorted(missing)),
            )
        )
    raise ServiceError(
        _(
            "after the reload Asterisk still runs %(list)s.",
            list=", ".join(f"{e}@{c}" for c, e in sorted(lingering)),
        )
    )


def _compare(
    ami: AMISession, expected: set[tuple[str, str]], dropped: set[tuple[str, str]]
) -> tuple[set, set]:
    shown: dict[str, str] = {}
    for context in sorted({c for c, _e in expected | dropped}):
        shown[context] = _live_extensions(ami, context)
    missing = {(c, e) for c, e in expected if f"'{e}' =>" not in shown[c]}
    lingering = {(c, e) for c, e in dropped if f"'{e}' =>" in shown[c]}
    return missing, lingering
