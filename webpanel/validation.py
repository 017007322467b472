"""Checks shared by the forms (what the member sees) and the services (what is stored).

Services re-check what forms already checked: a service is also called from places that have
no form, and a bad value must never reach the database whatever the path.
"""

from __future__ import annotations

import re
from decimal import Decimal

from wtforms import Field, StringField, ValidationError
from wtforms.form import BaseForm

from controller.rules import amounts
from db.errors import FieldErrors as FieldErrors  # defined in db: data functions raise it too
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


def distinct_ids(form: BaseForm, prefix: str) -> BaseForm:
    """Give the form's inputs ids of their own (`prefix-name`) while their names stay as they
    are: a page with two forms that both have a `number` field would otherwise have two
    id="number", and a label, an error summary link or an aria-describedby would reach the
    first one only. The CSRF field keeps its id (hidden, never labelled)."""
    for f in form:
        if f.type == "CSRFTokenField":
            continue
        f.id = f"{prefix}-{f.name}"
        f.label.field_id = f.id
    return form


def attach_errors(form: BaseForm, errors: dict[str, list[str]], *, unless_wrong: bool = False) -> None:
    """Show a service's FieldErrors next to the form's fields (form-level when no such field).
    `unless_wrong`: leave a field that the form's own checks already marked alone (the service
    re-checked a form that failed, to show every problem at once, not each one twice)."""
    for name, messages in errors.items():
        target = form[name] if name in form else None
        if target is not None and unless_wrong and target.errors:
            continue
        if target is None:
            form.form_errors.extend(m for m in messages if m not in form.form_errors)
            continue
        current = list(target.errors)  # a tuple on fields that were never validated
        current.extend(m for m in messages if m not in current)
        target.errors = current


# --- money and rates (issue 13 item 8) -------------------------------------------------------


def amount_message(exc: amounts.AmountError, what: str) -> str:
    """Why `what` (a field's name, as the page shows it) is not an amount the column keeps."""
    if exc.reason == amounts.TOO_PRECISE:
        return _(
            "The %(what)s has more than %(places)s decimals: it would be rounded.",
            what=what,
            places=exc.column.scale,
        )
    if exc.reason == amounts.TOO_LARGE:
        return _("The %(what)s is at most %(largest)s.", what=what, largest=exc.largest)
    if exc.reason == amounts.ZERO:
        return _("The %(what)s must be more than 0.", what=what)
    return _("Enter the %(what)s in dollars, such as 10 or 12.50.", what=what)


def check_amount(
    raw: str | None,
    column: amounts.Column,
    what: str,
    *,
    largest: Decimal | None = None,
    allow_zero: bool = True,
) -> Decimal:
    """Every money or rate value typed into the panel: controller.rules.amounts' strict parser
    (ASCII digits, one dot, no more digits or decimals than the column keeps). Raises
    ServiceError naming the field."""
    try:
        return amounts.parse_amount(raw, column, largest=largest, allow_zero=allow_zero)
    except amounts.AmountError as exc:
        raise ServiceError(amount_message(exc, what)) from None


class AmountField(StringField):
    """A money or rate field: `data` is the Decimal the column stores unchanged, or None when
    the text is not one (the field's error then says why). Pair with InputRequired."""

    def __init__(
        self,
        label=None,
        validators=None,
        *,
        column: amounts.Column,
        largest: Decimal | None = None,
        allow_zero: bool = True,
        what: str = "",
        **kwargs,
    ):
        super().__init__(label, validators, **kwargs)
        self.column, self.largest, self.allow_zero = column, largest, allow_zero
        self.what = what  # how the messages name the field ("monthly price")
        self.amount_error: amounts.AmountError | None = None

    def process_formdata(self, valuelist):
        self.amount_error = None
        self.data = None
        if not valuelist or not (valuelist[0] or "").strip():
            return
        try:
            self.data = amounts.parse_amount(
                valuelist[0], self.column, largest=self.largest, allow_zero=self.allow_zero
            )
        except amounts.AmountError as exc:
            self.amount_error = exc

    def pre_validate(self, form):
        if self.amount_error is not None:
            raise ValidationError(amount_message(self.amount_error, str(self.what or self.label.text)))

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if isinstance(self.data, Decimal):
            return str(
                self.data.quantize(Decimal("0.01"))
                if self.data == self.data.quantize(Decimal("0.01"))
                else self.data.normalize()
            )
        return ""
