"""Account Information: the account holder's contact details and preferences."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from db.audit import audit
from db.errors import ServiceError
from db.models import Account, User
from webpanel import choices
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import FieldErrors, check_email, normalize_postal_code, normalize_pstn_number

# field -> maximum length (the column's)
TEXT_FIELDS = {
    "first_name": 80,
    "last_name": 80,
    "company": 120,
    "address1": 120,
    "address2": 120,
    "city": 80,
    "state": 80,
}
FIELDS = (*TEXT_FIELDS, "postal_code", "country", "time_zone", "language", "email", "pstn_phone", "pstn_fax")
LABELS = {
    "first_name": _l("First Name"),
    "last_name": _l("Last Name"),
    "company": _l("Company"),
    "address1": _l("Address"),
    "address2": _l("Address (second line)"),
    "city": _l("City"),
    "state": _l("State"),
}


def update_account(
    session: Session, account: Account, actor: User, values: dict[str, Any], *, remote_addr: str = ""
) -> list[str]:
    """Validate every field, then store them all or nothing. Returns the names of the fields
    that changed (audited by name only: the values are personal data)."""
    clean = validate(values)
    changed = [name for name in FIELDS if getattr(account, name) != clean[name]]
    for name in changed:
        setattr(account, name, clean[name])
    if changed:
        session.flush()
        audit(
            session,
            "account.update",
            actor=actor,
            account_id=account.id,
            obj=account,
            details={"fields": changed},
            remote_addr=remote_addr,
        )
    return changed


def validate(values: dict[str, Any]) -> dict[str, str]:
    """Every field checked together: FieldErrors maps each bad field to its message, so the
    page shows them all after one submit."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ServiceError(_("Unknown fields: %(names)s", names=", ".join(sorted(unknown))))
    errors: dict[str, list[str]] = {}
    clean: dict[str, str] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, limit in TEXT_FIELDS.items():
        value = " ".join(str(values.get(name) or "").split())
        if len(value) > limit:
            fail(name, _("%(field)s has at most %(limit)s characters.", field=LABELS[name], limit=limit))
        clean[name] = value
    if not clean["first_name"]:
        fail("first_name", _("Enter your first name."))
    if not clean["last_name"]:
        fail("last_name", _("Enter your last name."))
    country = str(values.get("country") or "")
    if country not in choices.country_codes():
        fail("country", _("Choose your country from the list."))
    clean["country"] = country
    if clean["state"] and choices.subdivision_code(country, clean["state"]) is None:
        fail(
            "state",
            _("Enter a US state or territory, such as IL or Illinois.")
            if country == "US"
            else _("Enter a Canadian province or territory, such as ON or Ontario."),
        )
    elif clean["state"]:
        clean["state"] = choices.subdivision_code(country, clean["state"]) or clean["state"]
    time_zone = choices.canonical_zone(str(values.get("time_zone") or ""))
    if time_zone is None:
        fail("time_zone", _("Choose your time zone from the list."))
    clean["time_zone"] = time_zone or ""
    language = str(values.get("language") or "")
    if language not in choices.language_codes():
        fail("language", _("Choose your language from the list."))
    clean["language"] = language
    checks = (
        ("email", lambda: check_email(str(values.get("email") or ""))),
        (
            "postal_code",
            lambda: (
                normalize_postal_code(country, postal) if (postal := _text(values, "postal_code")) else ""
            ),
        ),
        ("pstn_phone", lambda: normalize_pstn_number(_text(values, "pstn_phone"), country, _("PSTN Phone"))),
        ("pstn_fax", lambda: normalize_pstn_number(_text(values, "pstn_fax"), country, _("PSTN Fax"))),
    )
    for name, check in checks:
        try:
            clean[name] = check()
        except ServiceError as exc:
            fail(name, str(exc))
    if errors:
        raise FieldErrors(errors)
    return clean


def _text(values: dict[str, Any], name: str) -> str:
    return str(values.get(name) or "").strip()
