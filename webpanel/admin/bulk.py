"""Bulk import of accounts with their virtual numbers and DIDs from a CSV file (issue 15).

One engine for both passes: `run` creates every row with the very services the single forms
use (services.create_account, add_number, create_did, connect_did), each row in its own
savepoint so that every row's problems are collected, in the caller's transaction. The dry run
always rolls that transaction back (nothing is stored, no audit entry stays); the apply commits
it only when no row has a problem, so the import is all or nothing.

The CSV (UTF-8, a byte order mark or not; cells separated by `,`, or by `;` as Excel writes
them in some locales; a header line naming the columns, in any order; only `login` is required):

    account_ref   the operator's own reference for the row (shown in the results, not stored)
    first_name, last_name, company, email
    country       ISO 3166 alpha-2 (default US)
    time_zone     IANA name (default America/New_York)
    language      en, es or fr (default en)
    login         the account's first virtual number, which its primary holder logs in with
    password      the panel password, or `generate` (or empty): one is made and shown once
    numbers       more virtual numbers of the account, separated by `;`
    dids          DIDs separated by `;`, each `DID` (not connected) or `DID=TARGET`, TARGET being
                  `none`, one of the row's virtual numbers, or `fax_to_email:ADDRESS`

Audit: every created object has its own entry with the operator as actor (the services write
them), and the apply adds one summary entry `admin.bulk_import` naming the operator, the
file's SHA-256, its rows and the accounts created. A file whose SHA-256 was already applied is
refused (a double submit), under a lock that serializes imports.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controller.rules import secrets as sec
from db.audit import audit
from db.errors import ServiceError
from db.models import AuditLog, User
from webpanel import choices
from webpanel.account.services import TEXT_FIELDS
from webpanel.admin import services
from webpanel.i18n import _
from webpanel.password.services import check_strength
from webpanel.validation import check_email

# accounts a file: the apply hashes each account's password with argon2 (~0.13 s on the 2-core
# reference machine when idle, several times that under load: 200 rows took 171 s at load 12),
# in one request that must end within gunicorn's 30 s worker timeout (webpanel/__main__.py); the
# dry run stores a stand-in hash instead (rolled back anyway: 200 rows in 10 s at load 12).
# A bigger import needs a background job (not built).
MAX_ROWS = 100
MAX_ROWS_TEXT = f"{MAX_ROWS:,}"
MAX_BYTES = 2 * 1024 * 1024
MAX_LIST = 50  # numbers or DIDs in one cell
MAX_PROBLEMS = 500
COLUMNS = (
    "account_ref",
    "first_name",
    "last_name",
    "company",
    "email",
    "country",
    "time_zone",
    "language",
    "login",
    "password",
    "numbers",
    "dids",
)
REQUIRED = ("login",)
GENERATE = "generate"
FAX_PREFIX = "fax_to_email:"
ACTION = "admin.bulk_import"
_LOCK = "admin.bulk_import"
# what the dry run's rolled-back users get instead of an argon2 hash: not a hash at all, so
# no password could ever verify against it (argon2 refuses it as an invalid hash)
DRY_RUN_HASH = "!bulk-import-dry-run"
# C0 controls and DEL other than tab, CR and LF (a name's whitespace is collapsed to spaces)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Problem:
    line: int  # the file's line (the header is line 1); 0: the file as a whole
    column: str
    message: str


@dataclass(frozen=True)
class DidPlan:
    number: str
    target: str  # "none", a virtual number or "fax_to_email"
    fax_email: str = ""


@dataclass
class Row:
    line: int
    ref: str
    login: str
    password: str  # "" when it is to be generated
    first_name: str
    last_name: str
    company: str
    email: str
    country: str
    time_zone: str
    language: str
    numbers: list[str]
    dids: list[DidPlan]
    account_id: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def generated(self) -> bool:
        return not self.password


@dataclass
class Outcome:
    digest: str
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # the file's own and every row's
    passwords: dict[str, str] = field(default_factory=dict)  # login -> generated (apply only)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def number_count(self) -> int:
        return sum(1 + len(r.numbers) for r in self.rows)

    @property
    def did_count(self) -> int:
        return sum(len(r.dids) for r in self.rows)


def digest_of(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def seal(secret: str | bytes | None, user_id: int, digest: str) -> str:
    """What binds an apply to its dry run: the file's SHA-256 signed with the panel's secret for
    the operator who ran the dry run. A bare SHA-256 binds nothing (whoever changes the rows
    computes it again); this one only the dry run can make."""
    if not secret:
        raise RuntimeError("the panel has no SECRET_KEY to seal a dry run with")
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = f"{ACTION}:{user_id}:{digest}".encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sealed(secret: str | bytes | None, user_id: int, content: str, claimed: str) -> bool:
    return hmac.compare_digest(seal(secret, user_id, digest_of(content)), claimed or "")


def decode(raw: bytes) -> str:
    """The uploaded bytes as text, or ServiceError with the reason."""
    if len(raw) > MAX_BYTES:
        raise ServiceError(_("The file is larger than 2 MB; split it into smaller files."))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ServiceError(_("The file is not UTF-8 text (save the CSV as UTF-8).")) from None


def _split(cell: str) -> list[str]:
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def _parse_did(entry: str) -> DidPlan:
    number, sep, target = entry.partition("=")
    number, target = number.strip(), target.strip()
    if not sep or target in ("", "none"):
        return DidPlan(number, "none")
    if target.startswith(FAX_PREFIX):
        return DidPlan(number, "fax_to_email", target[len(FAX_PREFIX) :].strip())
    return DidPlan(number, target)


def _delimiter(content: str) -> str:
    """, or ; (what Excel writes between cells where the decimal mark is a comma): a header with
    a ; and no , is read with ; (the header's names have neither)."""
    header = content.split("\n", 1)[0]
    return ";" if ";" in header and "," not in header else ","


def parse(content: str) -> tuple[list[Row], list[Problem]]:
    """The rows of the file and the problems of its shape (header, size, CSV syntax, the
    values' own form and duplicates inside the file). Nothing here reads the database."""
    content = content.removeprefix("\ufeff")  # a byte order mark pasted with the text
    if len(content.encode("utf-8")) > MAX_BYTES:
        return [], [Problem(0, "", _("The file is larger than 2 MB; split it into smaller files."))]
    reader = csv.reader(io.StringIO(content), delimiter=_delimiter(content))
    try:
        header = next(reader)
    except StopIteration:
        return [], [Problem(0, "", _("The file is empty."))]
    except csv.Error as exc:
        return [], [Problem(1, "", str(exc))]
    names = [h.strip().lower() for h in header]
    problems: list[Problem] = []
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        problems.append(
            Problem(
                1,
                "",
                _(
                    "Unknown columns: %(names)s. The columns are %(columns)s.",
                    names=", ".join(unknown),
                    columns=", ".join(COLUMNS),
                ),
            )
        )
    if len(set(names)) != len(names):
        problems.append(Problem(1, "", _("A column appears twice in the header.")))
    for name in REQUIRED:
        if name not in names:
            problems.append(Problem(1, name, _("The header has no %(name)s column.", name=name)))
    if problems:
        return [], problems
    rows: list[Row] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            return [], [Problem(line, "", str(exc))]
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= MAX_ROWS:
            return [], [
                Problem(
                    0,
                    "",
                    _(
                        "The file has more than %(max)s rows; split it into smaller files.",
                        max=MAX_ROWS_TEXT,
                    ),
                )
            ]
        if len(cells) > len(names):
            problems.append(Problem(line, "", _("The row has more cells than the header has columns.")))
            continue
        control = [n for n, c in zip(names, cells, strict=False) if _CONTROL.search(c)]
        if control:  # PostgreSQL refuses NUL in text: the row's insert would fail as a whole request
            for name in control:
                problems.append(
                    Problem(line, name, _("This cell has a control character (such as NUL); remove it."))
                )
            continue
        values = dict(zip(names, (c.strip() for c in cells), strict=False))
        rows.append(_row(line, values, problems))
    if not rows and not problems:
        problems.append(Problem(0, "", _("The file has a header but no rows.")))
    _duplicates(rows, problems)
    return rows, problems


def _row(line: int, v: dict[str, str], problems: list[Problem]) -> Row:
    def bad(column: str, message: str) -> None:
        problems.append(Problem(line, column, message))

    password = v.get("password", "")
    if password.lower() == GENERATE:
        password = ""
    row = Row(
        line=line,
        ref=v.get("account_ref", "")[:80],
        login=v.get("login", ""),
        password=password,
        first_name=" ".join(v.get("first_name", "").split()),
        last_name=" ".join(v.get("last_name", "").split()),
        company=" ".join(v.get("company", "").split()),
        email=v.get("email", ""),
        country=(v.get("country", "") or "US").upper(),
        time_zone=v.get("time_zone", "") or "America/New_York",
        language=(v.get("language", "") or "en").lower(),
        numbers=_split(v.get("numbers", "")),
        dids=[_parse_did(e) for e in _split(v.get("dids", ""))],
    )
    if not row.login:
        bad("login", _("Enter the login (the account's first virtual number)."))
    for name in ("first_name", "last_name", "company"):
        if len(getattr(row, name)) > TEXT_FIELDS[name]:
            bad(name, _("At most %(limit)s characters.", limit=TEXT_FIELDS[name]))
    if row.country not in choices.country_codes():
        bad("country", _("%(value)s is not an ISO 3166 country code (such as US).", value=row.country))
    # issue 16: only a zone the Account page's picker offers (an alias is stored as its zone)
    if row.time_zone not in choices.time_zone_set() or choices.canonical_zone(row.time_zone) is None:
        bad("time_zone", _("%(value)s is not a time zone (such as America/New_York).", value=row.time_zone))
    if row.language not in choices.language_codes():
        bad(
            "language",
            _(
                "%(value)s is not a language of the panel (%(codes)s).",
                value=row.language,
                codes=", ".join(sorted(choices.language_codes())),
            ),
        )
    if len(row.numbers) > MAX_LIST:
        bad("numbers", _("At most %(max)s numbers in one row.", max=MAX_LIST))
    if len(row.dids) > MAX_LIST:
        bad("dids", _("At most %(max)s DIDs in one row.", max=MAX_LIST))
    # str.isdigit() takes other scripts' digits (¹, ٣), which the services let through and the
    # database's CHECK then refuses (the row said "just taken by someone else")
    numbers = [("login", row.login)] + [("numbers", n) for n in row.numbers]
    for column, number in numbers:
        if number and not number.isascii():
            bad(column, _("A virtual number is 4 to 15 digits."))
    for plan in row.dids:
        if plan.number and not plan.number.isascii():
            bad("dids", _("A DID is 4 to 15 digits."))
    own = {row.login, *row.numbers}
    for plan in row.dids:
        if plan.target not in ("none", "fax_to_email") and plan.target not in own:
            bad(
                "dids",
                _(
                    "DID %(did)s: %(target)s is not one of this row's virtual numbers "
                    "(use a number of the row, none or fax_to_email:ADDRESS).",
                    did=plan.number,
                    target=plan.target,
                ),
            )
    return row


def _duplicates(rows: list[Row], problems: list[Problem]) -> None:
    """A number (login, virtual number or DID) or an account_ref used twice in the file."""
    seen: dict[str, tuple[int, str]] = {}
    refs: dict[str, int] = {}
    for row in rows:
        if row.ref:
            if row.ref in refs:
                problems.append(
                    Problem(
                        row.line,
                        "account_ref",
                        _("%(value)s is also on line %(line)s.", value=row.ref, line=refs[row.ref]),
                    )
                )
            else:
                refs[row.ref] = row.line
        cells = [("login", row.login)] + [("numbers", n) for n in row.numbers]
        cells += [("dids", d.number) for d in row.dids]
        for column, number in cells:
            if not number:
                continue
            if number in seen:
                first_line, first_column = seen[number]
                problems.append(
                    Problem(
                        row.line,
                        column,
                        _(
                            "%(number)s appears twice in the file (first on line %(line)s, column %(column)s).",
                            number=number,
                            line=first_line,
                            column=first_column,
                        ),
                    )
                )
            else:
                seen[number] = (row.line, column)


def already_applied(session: Session, digest: str) -> int | None:
    """The audit entry of an earlier apply of this very file, if any."""
    return session.scalar(
        select(AuditLog.id)
        .where(AuditLog.action == ACTION, AuditLog.details["sha256"].astext == digest)
        .limit(1)
    )


def run(
    session: Session,
    admin: User,
    content: str,
    *,
    realm: str,
    apply: bool,
    remote_addr: str = "",
) -> Outcome:
    """Create every row in `session` (see the module's doc). The caller rolls back a dry run
    always, and an apply whose outcome is not ok."""
    outcome = Outcome(digest=digest_of(content))
    rows, problems = parse(content)
    outcome.rows, outcome.problems = rows, list(problems)
    if problems:
        return outcome
    if apply:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": _LOCK})
        earlier = already_applied(session, outcome.digest)
        if earlier is not None:
            outcome.problems.append(
                Problem(
                    0,
                    "",
                    _(
                        "This file was already imported (audit entry %(id)s); nothing was written again.",
                        id=earlier,
                    ),
                )
            )
            return outcome
    for row in rows:
        _create(session, admin, row, realm=realm, remote_addr=remote_addr, outcome=outcome, apply=apply)
        outcome.problems.extend(row.problems)
        if len(outcome.problems) >= MAX_PROBLEMS:
            outcome.problems.append(Problem(0, "", _("Too many problems; the first ones are shown.")))
            break
    if apply and outcome.ok:
        audit(
            session,
            ACTION,
            actor=admin,
            details={
                "sha256": outcome.digest,
                "rows": len(rows),
                "account_ids": [r.account_id for r in rows],
                "numbers": outcome.number_count,
                "dids": outcome.did_count,
            },
            remote_addr=remote_addr,
        )
        outcome.applied = True
    return outcome


def _create(
    session: Session, admin: User, row: Row, *, realm: str, remote_addr: str, outcome: Outcome, apply: bool
) -> None:
    """One row in its own savepoint: on the first problem the row's writes are undone and the
    problem is recorded with the column it comes from."""
    column = "login"
    password = row.password
    if not password:
        password = _generated(row.login)
    elif check_strength(password, row.login):
        row.problems.append(Problem(row.line, "password", " ".join(check_strength(password, row.login))))
        return
    try:
        with session.begin_nested():
            if row.email:
                column = "email"
                check_email(row.email)
            column = "login"
            account = services.create_account(
                session,
                admin,
                number=row.login,
                password=password,
                first_name=row.first_name,
                last_name=row.last_name,
                email=row.email,
                realm=realm,
                remote_addr=remote_addr,
                password_hash=None if apply else DRY_RUN_HASH,
            )
            account.company, account.country = row.company, row.country
            # an alias (US/Central) is stored as its canonical zone, as the Account page does
            account.time_zone = choices.canonical_zone(row.time_zone) or row.time_zone
            account.language = row.language
            session.flush()
            column = "numbers"
            for number in row.numbers:
                services.add_number(session, admin, account, number, realm=realm, remote_addr=remote_addr)
            column = "dids"
            for plan in row.dids:
                did = services.create_did(session, admin, plan.number, account.id, remote_addr=remote_addr)
                if plan.target != "none":
                    services.connect_did(
                        session,
                        admin,
                        did,
                        account_id=account.id,
                        target=plan.target,
                        fax_email=plan.fax_email,
                        remote_addr=remote_addr,
                    )
            row.account_id = account.id
    except ServiceError as exc:
        row.problems.append(Problem(row.line, column, str(exc)))
        return
    except IntegrityError:
        row.problems.append(
            Problem(row.line, column, _("A number of this row was just taken by someone else."))
        )
        return
    if apply and not row.password:
        outcome.passwords[row.login] = password


def _generated(login: str) -> str:
    while True:
        password = sec.generate_sip_password(16)
        if not check_strength(password, login):
            return password
