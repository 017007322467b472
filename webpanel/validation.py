"""Checks shared by the forms (what the member sees) and the services (what is stored).

Services re-check what forms already checked: a service is also called from places that have
no form, and a bad value must never reach the database whatever the path.
"""

from __future__ import annotations

import re

from wtforms import Field, ValidationError
from wtforms.form import BaseForm

from db.errors import ServiceError
from webpanel.i18n import _

# Pragmatic, not RFC 5322: one @, no spaces or control characters, a dotted domain of valid
# labels. What we send mail to must be a plain address our SMTP relay accepts.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
EMAIL_MAX = 254


def is_email(value: str) -> bool:
    value = value or ""
    if len(value) > EMAIL_MAX or ".." in value:
        return False
    local, _, _ = value.partition("@")
    return (
        bool(_EMAIL.match(value))
        and 0 < len(local) <= 64
        and not local.startswith(".")
        and not local.endswith(".")
    )


def check_email(value: str, what: str | None = None) -> str:
    value = (value or "").strip()
    if not is_email(value):
        raise ServiceError(
            _("Enter a valid %(what)s, such as name@example.com.", what=what or _("email address"))
        )
    return value


class EmailAddress:
    """WTForms validator; an empty value passes (pair with DataRequired when required)."""

    def __init__(self, message: str | None = None):
        self.message = message

    def __call__(self, form: BaseForm, field: Field) -> None:
        value = (field.data or "").strip()
        if value and not is_email(value):
            raise ValidationError(self.message or _("Enter a valid email address, such as name@example.com."))


def strip(value: str | None) -> str | None:
    """WTForms filter: surrounding spaces are never meant."""
    return value.strip() if isinstance(value, str) else value


_US_ZIP = re.compile(r"^\d{5}(?:-\d{4})?$")
# Canadian postal codes never use D, F, I, O, Q or U, and never start with W or Z
_CA_POSTAL = re.compile(r"^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d$")


def normalize_postal_code(country: str, code: str) -> str:
    """A US ZIP (12345 or 12345-6789) or a Canadian postal code (A1A 1A1) in its standard
    spelling; other countries' codes are kept as typed. Raises ServiceError when malformed."""
    code = " ".join((code or "").split())
    if country == "US":
        if not _US_ZIP.match(code):
            raise ServiceError(_("A US ZIP code is 5 digits, or 5+4 digits (12345 or 12345-6789)."))
        return code
    if country == "CA":
        compact = code.upper().replace(" ", "")
        if not _CA_POSTAL.match(compact):
            raise ServiceError(_("A Canadian postal code looks like A1A 1A1."))
        return f"{compact[:3]} {compact[3:]}"
    if len(code) > 20:
        raise ServiceError(_("A postal code has at most 20 characters."))
    return code


def normalize_pstn_number(raw: str, country: str, what: str) -> str:
    """A PSTN phone or fax number, parsed with phonenumbers in the context of `country`,
    stored as E.164 (+ and digits). Empty stays empty."""
    import phonenumbers

    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        parsed = phonenumbers.parse(raw, country or None)
    except phonenumbers.NumberParseException:
        raise ServiceError(_("The %(what)s is not a phone number.", what=what)) from None
    if not phonenumbers.is_valid_number(parsed):
        if country:
            raise ServiceError(
                _(
                    "The %(what)s is not a valid phone number in %(country)s; include "
                    "the country code (+44 ...) for a number abroad.",
                    what=what,
                    country=country,
                )
            )
        raise ServiceError(
            _(
                "The %(what)s is not a valid phone number; include the country code "
                "(+44 ...) for a number abroad.",
                what=what,
            )
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class FieldErrors(ServiceError):
    """Bad input on several fields at once; `errors` maps each form field to its messages so
    the page can show every problem next to its field in one round trip."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(" ".join(m for msgs in errors.values() for m in msgs))


def attach_errors(form: BaseForm, errors: dict[str, list[str]]) -> None:
    """Show a service's FieldErrors next to the form's fields (form-level when no such field)."""
    for name, messages in errors.items():
        target = form[name] if name in form else None
        if target is None:
            form.form_errors.extend(m for m in messages if m not in form.form_errors)
            continue
        current = list(target.errors)  # a tuple on fields that were never validated
        current.extend(m for m in messages if m not in current)
        target.errors = current
