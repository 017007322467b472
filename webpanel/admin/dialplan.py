"""The generated dialplan and the admin's overrides of it: view, validate, apply, history, rollback.

What is overridable, and what is refused, is asterisk_conf.overrides' rule (the same text the
renderer writes as extensions_admin.conf). Applying a version:

1. validates it against the extensions.conf the templates render now (every problem, by line);
2. takes a transaction-scoped advisory lock, so two admins never interleave file writes;
3. writes extensions_admin.conf into Asterisk's config dir (atomically: temp file + rename);
4. `dialplan reload` over AMI, then `dialplan show` of each context the version touches: every
   extension it defines must be live, every one it dropped must be gone;
5. records the version (who, when, comment) and an audit row; the caller commits.

If Asterisk cannot be reached or the check fails, the previous file is put back and reloaded
and nothing is recorded except an audit row of the failure (written by the view).
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
    body = normalize(body)
    comment = " ".join((comment or "").split())[:200]
    problems = overrides.validate(body, generated=generated(settings))
    if problems:
        raise DialplanRejected(problems)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    before = current(session)
    before_body = before.body if before else ""
    path = config_path(settings)
    _check_included(path.parent)
    previous_file = path.read_text() if path.exists() else None
    _write(path, overrides.file_text(body))
    try:
        _reload_and_verify(settings, body, before_body)
    except (AMIError, ServiceError) as exc:
        _restore(settings, path, previous_file)
        raise ApplyFailed(
            _(
                "Asterisk did not take the new dialplan, so the previous one was put back: %(reason)s",
                reason=str(exc),
            )
        ) from None
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


def _restore(settings: Settings, path: Path, previous: str | None) -> None:
    _write(path, previous if previous is not None else overrides.file_text(""))
    try:
        with AMISession(settings) as ami:
            ami.command("dialplan reload")
    except AMIError:
        pass  # Asterisk is down: it reads the restored file when it starts


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
