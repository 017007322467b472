"""The API's marshmallow schemas: what each endpoint takes and gives (and what the OpenAPI
description says it does). Money is a decimal string ("12.5000"), never a float; times are
ISO 8601 in UTC."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class _AsciiDigits:
    """Python's int() and Decimal() read any script's digits ("١٢", "１２", and "²" passes
    str.isdigit): the API takes ASCII digits only, as the panel's forms do."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and not value.isascii():
            raise self.make_error("invalid")  # type: ignore[attr-defined]
        return super()._deserialize(value, attr, data, **kwargs)  # type: ignore[misc]


def no_control_characters(value: str) -> None:
    """Text kept on an account (names, email, a search) has no control characters: they would
    end up in invoices, emails and CSV exports."""
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise ValidationError("Control characters are not allowed.")


def text(max_length: int, **kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(max=max_length), no_control_characters], **kwargs)


class Integer(_AsciiDigits, fields.Integer):
    pass


class Decimal(_AsciiDigits, fields.Decimal):
    pass


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "A stable code: invalid, not_found, ..."})
    message = fields.String(required=True, metadata={"description": "What went wrong, for a person"})
    field = fields.String(metadata={"description": "The input at fault, when one is"})


class PageArgs(Schema):
    limit = Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(1, MAX_LIMIT),
        metadata={"description": f"Items per page (1-{MAX_LIMIT})"},
    )
    after = fields.String(
        load_default=None,
        validate=validate.Length(max=64),
        metadata={"description": "The `next` cursor of the previous page"},
    )


class PageSchema(Schema):
    next = fields.String(
        allow_none=True, metadata={"description": "Cursor of the next page; null: last page"}
    )


# --- accounts ------------------------------------------------------------------------------------


class AccountListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(("active", "suspended", "closed")))
    q = text(80, load_default="", metadata={"description": "Name, email, number"})


class NumberSchema(Schema):
    id = Integer()
    account_id = Integer()
    number = fields.String()
    display_name = fields.String()
    voicemail_enabled = fields.Boolean()
    allow_us_canada_ld = fields.Boolean()
    allow_international_ld = fields.Boolean()
    created_at = fields.DateTime()


class AccountSchema(Schema):
    id = Integer()
    status = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    company = fields.String()
    email = fields.String()
    country = fields.String()
    time_zone = fields.String()
    language = fields.String()
    created_at = fields.DateTime()
    numbers = fields.List(fields.String(), metadata={"description": "The account's virtual numbers"})


class AccountPageSchema(PageSchema):
    items = fields.List(fields.Nested(AccountSchema))


class AccountCreateSchema(Schema):
    number = fields.String(required=True, validate=validate.Length(min=4, max=15))
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(max=128),
        metadata={"description": "The primary user's panel password"},
    )
    first_name = text(80, load_default="")
    last_name = text(80, load_default="")
    email = text(254, load_default="")


class NumberListArgs(PageArgs):
    account_id = Integer(load_default=None, validate=validate.Range(1, 2**31 - 1))


class NumberPageSchema(PageSchema):
    items = fields.List(fields.Nested(NumberSchema))


class NumberCreateSchema(Schema):
    account_id = Integer(required=True, validate=validate.Range(1, 2**31 - 1))
    number = fields.String(required=True, validate=validate.Length(min=4, max=15))


# --- DIDs ----------------------------------------------------------------------------------------


class DidSchema(Schema):
    id = Integer()
    number = fields.String()
    account_id = Integer(allow_none=True)
    connection = fields.String(metadata={"description": "virtual_number, fax_to_email or none"})
    virtual_number = fields.String(allow_none=True)
    fax_email = fields.String(allow_none=True)
    created_at = fields.DateTime()


class DidListArgs(PageArgs):
    account_id = Integer(load_default=None, validate=validate.Range(1, 2**31 - 1))


class DidPageSchema(PageSchema):
    items = fields.List(fields.Nested(DidSchema))


class DidConnectSchema(Schema):
    account_id = Integer(
        required=True,
        allow_none=True,
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "null: none"},
    )
    target = fields.String(
        required=True,
        validate=validate.Length(max=20),
        metadata={"description": "One of the account's virtual numbers, fax_to_email, or none"},
    )
    fax_email = text(254, load_default="")


# --- money ---------------------------------------------------------------------------------------


class CreditSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("credit", "debit", "refund")))
    amount = Decimal(required=True, as_string=True, places=None, metadata={"example": "5.00"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    cdr_charge_id = Integer(
        load_default=None,
        validate=validate.Range(1, 2**63 - 1),
        metadata={"description": "A refund's charge"},
    )


class AdjustedSchema(Schema):
    adjustment_id = Integer()
    account_id = Integer()
    kind = fields.String()
    amount = Decimal(as_string=True)
    credit_lot_id = Integer(allow_none=True)
    balance = Decimal(as_string=True, metadata={"description": "The account's credit after it"})


class BalanceSchema(Schema):
    account_id = Integer()
    currency = fields.String()
    available = Decimal(
        as_string=True, metadata={"description": "What calls can use now (credit less open holds)"}
    )
    credit = Decimal(as_string=True, metadata={"description": "Credit bought and not spent"})


# --- call records --------------------------------------------------------------------------------


class RecordArgs(PageArgs):
    start = fields.Date(
        load_default=None, metadata={"description": "First day (account's time zone; UTC for all)"}
    )
    end = fields.Date(load_default=None, metadata={"description": "Last day, included"})


class OperatorRecordArgs(PageArgs):
    account_id = Integer(load_default=None, validate=validate.Range(1, 2**31 - 1))
    number = fields.String(
        load_default="", validate=validate.Length(max=24), metadata={"description": "Caller or member number"}
    )
    did = fields.String(
        load_default="", validate=validate.Length(max=24), metadata={"description": "The number called"}
    )
    destination = fields.String(
        load_default="",
        validate=validate.Length(max=24),
        metadata={"description": "Prefix of the E.164 digits dialled"},
    )
    carrier = fields.String(load_default="", validate=validate.Length(max=32))
    outcome = fields.String(
        load_default="",
        validate=validate.OneOf(("", "ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION")),
    )
    since = fields.String(
        load_default="",
        validate=validate.Length(max=20),
        metadata={"description": "YYYY-MM-DD[ HH:MM] UTC, included"},
    )
    until = fields.String(
        load_default="",
        validate=validate.Length(max=20),
        metadata={"description": "YYYY-MM-DD[ HH:MM] UTC, a date: its whole day"},
    )


class MemberRecordArgs(RecordArgs):
    number = fields.String(
        load_default="",
        validate=validate.Length(max=40),
        metadata={"description": "One of your numbers, or the other party's number"},
    )


class CallRecordSchema(Schema):
    id = Integer()
    start = fields.DateTime()
    number = fields.String(metadata={"description": "The member's number whose side this is"})
    direction = fields.String(metadata={"description": "out or in"})
    calling = fields.String()
    called = fields.String()
    country = fields.String()
    outcome = fields.String(metadata={"description": "ANSWERED, NO ANSWER, BUSY, VOICEMAIL, REFUSED, ..."})
    type = fields.String()
    billsec = Integer()
    cost = Decimal(as_string=True, allow_none=True, metadata={"description": "null: not rated yet"})


class CallRecordPageSchema(PageSchema):
    items = fields.List(fields.Nested(CallRecordSchema))


class CdrSchema(Schema):
    id = Integer()
    start = fields.DateTime()
    account_id = Integer(allow_none=True)
    account_name = fields.String()
    src = fields.String()
    dst = fields.String()
    dialed = fields.String()
    vnum = fields.String()
    call_class = fields.String()
    disposition = fields.String()
    duration = Integer()
    billsec = Integer()
    carrier = fields.String()
    call_type = fields.String()
    country = fields.String()
    cost = Decimal(as_string=True, allow_none=True, metadata={"description": "null: not rated"})
    buy_cost = Decimal(as_string=True, allow_none=True)
    margin = Decimal(as_string=True, allow_none=True)


class CdrPageSchema(PageSchema):
    items = fields.List(fields.Nested(CdrSchema))


# --- invoices ------------------------------------------------------------------------------------


class InvoiceListArgs(Schema):
    account_id = Integer(required=True, validate=validate.Range(1, 2**31 - 1))
    limit = Integer(load_default=24, validate=validate.Range(1, 240))


class InvoiceSchema(Schema):
    id = Integer()
    number = fields.String()
    account_id = Integer()
    period_start = fields.Date()
    period_end = fields.Date()
    issued_at = fields.DateTime()
    currency = fields.String()
    opening_balance = Decimal(as_string=True)
    charges = Decimal(as_string=True)
    plan_fees = Decimal(as_string=True)
    credit_bought = Decimal(as_string=True)
    payments = Decimal(as_string=True)
    adjustments = Decimal(as_string=True)
    closing_balance = Decimal(as_string=True)


class InvoiceListSchema(Schema):
    items = fields.List(fields.Nested(InvoiceSchema))


# --- member: voicemail, forwarding -----------------------------------------------------------------


class VoicemailArgs(Schema):
    number = fields.String(
        load_default="",
        validate=validate.Length(max=40),
        metadata={"description": "The mailbox (default: yours)"},
    )


class VoicemailMessageSchema(Schema):
    id = Integer()
    mailbox = fields.String()
    folder = fields.String()
    caller_name = fields.String()
    caller_number = fields.String()
    received_at = fields.DateTime()
    duration_seconds = fields.Float()
    audio_url = fields.String()


class VoicemailListSchema(Schema):
    mailbox = fields.String()
    new = Integer()
    saved = Integer()
    items = fields.List(fields.Nested(VoicemailMessageSchema))


class RingSchema(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(("simultaneous", "sequential")))
    seconds = Integer(required=True, strict=True)
    numbers = fields.List(fields.String(validate=validate.Length(max=64)), load_default=list)


class Step1Schema(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(("voicemail", "ring_list", "none")),
        metadata={"description": "voicemail at once, ring the list, or no special forwarding"},
    )
    ring = fields.Nested(RingSchema, required=True)
    device_seconds = Integer(required=True, strict=True, metadata={"description": "1-99"})


class Step2RingSchema(RingSchema):
    enabled = fields.Boolean(required=True)


class Step2Schema(Schema):
    no_answer = fields.Nested(Step2RingSchema, required=True)
    busy = fields.Nested(Step2RingSchema, required=True)


class ScreeningSchema(Schema):
    dnd = fields.Boolean(
        required=True, metadata={"description": "Do not disturb: calls go to voicemail without ringing"}
    )
    reject_anonymous = fields.Boolean(
        required=True, metadata={"description": "Refuse callers who hide their number"}
    )
    confirm_forwarded = fields.Boolean(
        required=True,
        metadata={"description": "A forwarded call is put through only when its answerer presses 1"},
    )


class AfterHoursSchema(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(("voicemail", "ring_list", "none")),
        metadata={"description": "Outside office hours, step 1's choice instead of step 1"},
    )
    ring = fields.Nested(RingSchema, required=True)


class OfficeHoursSchema(Schema):
    enabled = fields.Boolean(
        required=True,
        metadata={"description": "When false, the rest is neither checked nor changed (kept as stored)"},
    )
    days = fields.List(
        Integer(strict=True), required=True, metadata={"description": "Weekdays: 0 Monday ... 6 Sunday"}
    )
    open = fields.Time(
        format="%H:%M",
        required=True,
        allow_none=True,
        metadata={"description": "HH:MM, the account's time zone"},
    )
    close = fields.Time(
        format="%H:%M",
        required=True,
        allow_none=True,
        metadata={"description": "HH:MM; before `open`, the hours span midnight"},
    )
    after_hours = fields.Nested(AfterHoursSchema, required=True)


class CallBlockSchema(Schema):
    id = Integer()
    number = fields.String(metadata={"description": "The caller ID refused (digits)"})
    note = fields.String()
    created_at = fields.DateTime()


class ForwardingSchema(Schema):
    number = fields.String(dump_only=True)
    step1 = fields.Nested(Step1Schema, required=True)
    step2 = fields.Nested(Step2Schema, required=True)
    screening = fields.Nested(
        ScreeningSchema, metadata={"description": "Optional on PUT: left as it is when absent"}
    )
    office_hours = fields.Nested(
        OfficeHoursSchema, metadata={"description": "Optional on PUT: left as it is when absent"}
    )
    call_blocks = fields.List(
        fields.Nested(CallBlockSchema),
        dump_only=True,
        metadata={"description": "The blocklist (Call Blocking's page changes it; ignored on PUT)"},
    )

    @pre_load
    def _without_read_only(self, data: Any, **_kwargs: Any) -> Any:
        """A GET's answer can be PUT back as it is: its read-only parts are left out."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in ("number", "call_blocks")}
        return data


class MeSchema(Schema):
    account_id = Integer()
    login = fields.String()
    scope = fields.String()
    status = fields.String()
    time_zone = fields.String()
    numbers = fields.List(fields.String())
