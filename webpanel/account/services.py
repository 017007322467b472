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
from webpanel.validation import check_email, normalize_postal_code, normalize_pstn_number

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
    "address2": _l("Address"),
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
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ServiceError(_("Unknown fields: %(names)s", names=", ".join(sorted(unknown))))
    clean: dict[str, str] = {}
    for name, limit in TEXT_FIELDS.items():
        value = " ".join(str(values.get(name) or "").split())
        if len(value) > limit:
            raise ServiceError(
                _("%(field)s has at most %(limit)s characters.", field=LABELS[name], limit=limit)
            )
        clean[name] = value
    if not clean["first_name"] or not clean["last_name"]:
        raise ServiceError(_("Enter your first and last name."))
    country = str(values.get("country") or "")
    if country not in choices.country_codes():
        raise ServiceError(_("Choose your country from the list."))
    clean["country"] = country
    time_zone = str(values.get("time_zone") or "")
    if time_zone not in choices.time_zone_set():
        raise ServiceError(_("Choose your time zone from the list."))
    clean["time_zone"] = time_zone
    language = str(values.get("language") or "")
    if language not in choices.language_codes():
        raise ServiceError(_("Choose your language from the list."))
    clean["language"] = language
    clean["email"] = check_email(str(values.get("email") or ""))
    postal = str(values.get("postal_code") or "").strip()
    clean["postal_code"] = normalize_postal_code(country, postal) if postal else ""
    clean["pstn_phone"] = normalize_pstn_number(str(values.get("pstn_phone") or ""), country, _("PSTN Phone"))
    clean["pstn_fax"] = normalize_pstn_number(str(values.get("pstn_fax") or ""), country, _("PSTN Fax"))
    return clean
