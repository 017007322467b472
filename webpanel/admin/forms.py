"""Operator admin forms. Presence and shape are checked here; the services check every value
again before anything is stored."""

from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from controller.rules import amounts
from webpanel.choices import options
from webpanel.converters import INT4_MAX
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import AmountField, EmailAddress, strip

MAX_PLAN_PRICE = Decimal("100000")  # a month of a calling plan, in dollars


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class NewAccountForm(FlaskForm):
    number = StringField(
        _l("Virtual number (the login)"), [DataRequired(_l("Enter the virtual number."))], filters=[strip]
    )
    password = PasswordField(_l("Panel password"), [DataRequired(_l("Enter a password."))])
    first_name = StringField(_l("First name"), [Length(max=80)], filters=[strip])
    last_name = StringField(_l("Last name"), [Length(max=80)], filters=[strip])
    email = EmailField(_l("Email"), [Length(max=254), EmailAddress()], filters=[strip])


class StatusForm(FlaskForm):
    status = SelectField(
        _l("Status"),
        choices=options([("active", _l("Active")), ("suspended", _l("Suspended")), ("closed", _l("Closed"))]),
    )


class AddNumberForm(FlaskForm):
    number = StringField(
        _l("New virtual number"), [DataRequired(_l("Enter the virtual number."))], filters=[strip]
    )


class AddUserForm(FlaskForm):
    number = SelectField(_l("Virtual number"), validate_choice=False)
    password = PasswordField(_l("Password"), [DataRequired(_l("Enter a password."))])
    email = EmailField(_l("Email"), [Length(max=254), EmailAddress()], filters=[strip])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), [DataRequired(_l("Enter the new password."))])
    retype = PasswordField(
        _l("Retype"), [EqualTo("password", _l("The password and its retype do not match."))]
    )


class SubscribeForm(FlaskForm):
    plan_id = SelectField(
        _l("Calling plan"),
        coerce=int,
        validate_choice=False,
        validators=[InputRequired(_l("Choose a calling plan."))],
    )
    renew_date = DateField(_l("Renew date"), [InputRequired(_l("Enter the renew date (YYYY-MM-DD)."))])
    enabled_number = SelectField(_l("Enabled phone"), validate_choice=False)


class DidCreateForm(FlaskForm):
    number = StringField(_l("DID number"), [DataRequired(_l("Enter the DID number."))], filters=[strip])
    account_id = IntegerField(_l("Account ID"), [Optional(), NumberRange(min=1, max=INT4_MAX)])


class DidConnectForm(FlaskForm):
    account_id = IntegerField(_l("Account ID"), [Optional(), NumberRange(min=1, max=INT4_MAX)])
    target = StringField(_l("Connected to"), filters=[strip])
    fax_email = EmailField(_l("Email address to receive faxes"), [Length(max=254)], filters=[strip])


class RateImportForm(FlaskForm):
    name = StringField(
        _l("Deck name"), [DataRequired(_l("Give the rate deck a name.")), Length(max=80)], filters=[strip]
    )
    deck = FileField(_l("CSV file"), [FileRequired(_l("Choose the CSV file of the rate deck."))])
    activate = BooleanField(_l("Make it the active deck"), default=True)


class PlanForm(FlaskForm):
    name = StringField(
        _l("Plan name"), [DataRequired(_l("Enter the plan name.")), Length(max=80)], filters=[strip]
    )
    regional_minutes = IntegerField(
        _l("Regional minutes"), [InputRequired(_l("Enter the regional minutes.")), NumberRange(0, 1_000_000)]
    )
    us_canada_minutes = IntegerField(
        _l("US & Canada minutes"),
        [InputRequired(_l("Enter the US & Canada minutes.")), NumberRange(0, 1_000_000)],
    )
    # issue 13 item 8: the strict parser (no 1e30, NaN, ², nor more decimals than stored)
    monthly_price = AmountField(
        _l("Monthly price ($)"),
        [InputRequired(_l("Enter the monthly price."))],
        column=amounts.MONEY,
        largest=MAX_PLAN_PRICE,
        what=_l("monthly price"),
    )
    active = BooleanField(_l("Active (can be subscribed)"), default=True)


class VoucherForm(FlaskForm):
    count = IntegerField(
        _l("How many"), [InputRequired(_l("Enter how many vouchers.")), NumberRange(1, 100)], default=1
    )
    amount = StringField(_l("Amount ($)"), [DataRequired(_l("Enter the amount."))], filters=[strip])
    expires_on = DateField(_l("Expires on (optional)"), [Optional()])


class DialplanForm(FlaskForm):
    body = TextAreaField(_l("Admin overrides (extensions_admin.conf)"), [Length(max=100_000)])
    comment = StringField(_l("Comment"), [Length(max=200)], filters=[strip])
