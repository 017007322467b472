"""DID Numbers: where each DID rings (a virtual number of the account, or Fax to Email) and
the 911 address the PSTN's emergency services get for it."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from db.audit import audit
from db.errors import ServiceError
from db.models import Did, E911Address, User, VirtualNumber
from webpanel import choices
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import FieldErrors, check_email, normalize_postal_code

FAX_TO_EMAIL = "fax_to_email"
US_CA = ("US", "CA")

_DIRECTIONS = frozenset(code for code, _ in choices.STREET_DIRECTIONS)
_STREET_TYPES = frozenset(code for code, _ in choices.STREET_TYPES)
_HOUSE_NUMBER = re.compile(r"^[0-9A-Za-z][0-9A-Za-z /-]*$")

# field -> (label, maximum length, required)
E911_TEXT = {
    "name": (_l("Name"), 120, True),
    "comment": (_l("Comment"), 200, False),
    "state": (_l("State/Province"), 80, True),
    "city": (_l("City"), 80, True),
    "house_number": (_l("House Number"), 20, True),
    "number_suffix": (_l("Number Suffix"), 10, False),
    "street_name": (_l("Street Name"), 120, True),
    "location": (_l("Location Description"), 200, False),
}
E911_FIELDS = (
    *E911_TEXT,
    "in_us_ca",
    "country",
    "street_dir_prefix",
    "street_dir_suffix",
    "street_type",
    "postal_code",
)


def visible_dids(user: User) -> Select[tuple[Did]]:
    """The primary holder: every DID of the account; a secondary user: the DIDs that ring
    their own number."""
    query = select(Did).where(Did.account_id == user.account_id)
    if user.role != "primary":
        query = query.where(Did.virtual_number_id == user.virtual_number_id)
    return query.order_by(Did.number)


def connect(
    session: Session, did: Did, user: User, target: str, fax_email: str = "", *, remote_addr: str = ""
) -> None:
    """Connect `did` to one of the account's virtual numbers (by its digits) or to Fax to Email
    (with the address the faxes go to)."""
    if user.role != "primary" or did.account_id != user.account_id:
        raise ServiceError(_("Only the primary account holder can change where a DID is connected."))
    if target == FAX_TO_EMAIL:
        did.fax_email = check_email(fax_email, _("email address to receive faxes"))
        did.connection, did.virtual_number_id = FAX_TO_EMAIL, None
    else:
        vn = session.scalar(
            select(VirtualNumber).where(
                VirtualNumber.account_id == did.account_id, VirtualNumber.number == target
            )
        )
        if vn is None:
            raise ServiceError(_("Choose one of your virtual numbers, or Fax to Email."))
        did.connection, did.virtual_number_id, did.fax_email = "virtual_number", vn.id, None
    session.flush()
    audit(
        session,
        "did.connect",
        actor=user,
        account_id=did.account_id,
        obj=did,
        details={"connection": did.connection, "virtual_number": target if did.virtual_number_id else None},
        remote_addr=remote_addr,
    )


def validate_e911(values: dict[str, Any]) -> dict[str, Any]:
    """Every field of the help page's 911 Information, checked together (FieldErrors lists
    every problem). In the US and Canada the address must be one a 911 centre can find:
    a house number with a digit and a ZIP or postal code in the country's format."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, (label, limit, required) in E911_TEXT.items():
        value = " ".join(str(values.get(name) or "").split())
        if required and not value:
            fail(name, _("Enter the %(field)s.", field=label))
        elif len(value) > limit:
            fail(name, _("%(field)s has at most %(limit)s characters.", field=label, limit=limit))
        clean[name] = value

    scope = values.get("in_us_ca")
    if scope not in ("yes", "no"):
        fail("in_us_ca", _("Check whether you are located within US/CA."))
    in_us_ca = scope == "yes"
    clean["in_us_ca"] = in_us_ca
    country = str(values.get("country") or "")
    if country not in choices.country_codes():
        fail("country", _("Choose the country from the list."))
    elif in_us_ca and country not in US_CA:
        fail("country", _("Within US/CA the country is United States or Canada."))
    elif scope == "no" and country in US_CA:
        fail("country", _('You checked "I am not located within US/CA": choose the country you are in.'))
    clean["country"] = country
    if in_us_ca and country in US_CA and clean["state"]:
        state = choices.subdivision_code(country, clean["state"])
        if state is None:
            fail(
                "state",
                _("Enter a US state or territory, such as IL or Illinois.")
                if country == "US"
                else _("Enter a Canadian province or territory, such as ON or Ontario."),
            )
        else:
            clean["state"] = state

    for name, label in (
        ("street_dir_prefix", _l("Street Direction Prefix")),
        ("street_dir_suffix", _l("Street Direction Suffix")),
    ):
        value = str(values.get(name) or "")
        if value not in _DIRECTIONS:
            fail(name, _("Choose the %(field)s from the list.", field=label))
        clean[name] = value
    street_type = str(values.get("street_type") or "")
    if street_type not in _STREET_TYPES:
        fail("street_type", _("Choose the %(field)s from the list.", field=_("Street Type")))
    clean["street_type"] = street_type

    house = clean["house_number"]
    if house and not _HOUSE_NUMBER.match(house):
        fail("house_number", _("A house number has letters, digits, spaces, / or - only."))
    elif house and in_us_ca and not any(c.isdigit() for c in house):
        fail("house_number", _("A US or Canadian house number has digits."))

    postal = str(values.get("postal_code") or "").strip()
    if in_us_ca and country in US_CA:
        if not postal:
            fail("postal_code", _("Enter the ZIP or postal code."))
        else:
            try:
                postal = normalize_postal_code(country, postal)
            except ServiceError as exc:
                fail("postal_code", str(exc))
    elif len(postal) > 20:
        fail("postal_code", _("A postal code has at most 20 characters."))
    clean["postal_code"] = postal

    if errors:
        raise FieldErrors(errors)
    return clean


def save_e911(
    session: Session, did: Did, user: User, values: dict[str, Any], *, remote_addr: str = ""
) -> E911Address:
    if did.account_id != user.account_id or (
        user.role != "primary" and did.virtual_number_id != user.virtual_number_id
    ):
        raise ServiceError(_("That DID is not yours."))
    clean = validate_e911(values)
    address = session.get(E911Address, did.id)
    if address is None:
        address = E911Address(did_id=did.id, **clean)
        session.add(address)
    else:
        for name, value in clean.items():
            setattr(address, name, value)
    session.flush()
    audit(
        session,
        "did.e911",
        actor=user,
        account_id=did.account_id,
        obj=did,
        details={"in_us_ca": clean["in_us_ca"], "country": clean["country"]},
        remote_addr=remote_addr,
    )
    return address
