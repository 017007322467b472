"""The domain schema: SQLAlchemy 2.0 typed models.

Money is NUMERIC (Decimal). Secrets are never stored in plain text: panel and VM passwords
are argon2 hashes, SIP credentials are PJSIP md5_cred (HA1), calling-card PINs are an HMAC.
Asterisk's realtime objects (ps_endpoints, ps_auths, ps_aors) are views over virtual_numbers
(see db/realtime.py); ps_contacts and cdr are written by Asterisk itself and keep its columns.
"""

from __future__ import annotations

import builtins
import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, ENUM, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from controller.rules import service_numbers
from controller.rules.forwarding import RingMode, Step1

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MONEY = Numeric(12, 4)
RATE = Numeric(10, 5)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _choice(column: str, values: tuple[str, ...], name: str | None = None) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name or column)


ROLES = ("primary", "secondary", "admin")
CONNECTIONS = ("virtual_number", "fax_to_email", "none")
# the forwarding rule's choices are the rules' enums, stored as their values
STEP1 = tuple(step.value for step in Step1)
RING_MODES = tuple(mode.value for mode in RingMode)
GUEST_ROLES = ("normal", "talk_only", "listen_only")
CONFERENCE_STATUS = ("created", "started", "expired")
VM_FOLDERS = ("new", "saved")
FAX_STATUS = ("received", "failed")


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (_choice("status", ("active", "suspended", "closed")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    first_name: Mapped[str] = mapped_column(String(80), server_default="")
    last_name: Mapped[str] = mapped_column(String(80), server_default="")
    company: Mapped[str] = mapped_column(String(120), server_default="")
    address1: Mapped[str] = mapped_column(String(120), server_default="")
    address2: Mapped[str] = mapped_column(String(120), server_default="")
    city: Mapped[str] = mapped_column(String(80), server_default="")
    state: Mapped[str] = mapped_column(String(80), server_default="")
    postal_code: Mapped[str] = mapped_column(String(20), server_default="")
    country: Mapped[str] = mapped_column(String(2), server_default="US")  # ISO 3166 alpha-2
    time_zone: Mapped[str] = mapped_column(String(64), server_default="America/New_York")
    language: Mapped[str] = mapped_column(String(8), server_default="en")
    email: Mapped[str] = mapped_column(String(254), server_default="")
    pstn_phone: Mapped[str] = mapped_column(String(32), server_default="")
    pstn_fax: Mapped[str] = mapped_column(String(32), server_default="")
    created_at: Mapped[dt.datetime] = _now()
    # issue 13, spending limits on the hot path (migration 0021, kept by its triggers; never
    # written from Python): which limits rows exist, and the charges of the latest local day
    # with any (all, international) and of that day and the two before it
    limit_flags: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    spend_day: Mapped[dt.date | None] = mapped_column(Date)
    spend_today: Mapped[Decimal] = mapped_column(Numeric(12, 4), server_default="0")
    spend_today_intl: Mapped[Decimal] = mapped_column(Numeric(12, 4), server_default="0")
    spend_recent: Mapped[Decimal] = mapped_column(Numeric(12, 4), server_default="0")
    # issue 15: "low balance" is announced (webhook, notification) under this; None: never
    low_balance_threshold: Mapped[Decimal | None] = mapped_column(MONEY)

    virtual_numbers: Mapped[list[VirtualNumber]] = relationship(back_populates="account")
    users: Mapped[list[User]] = relationship(back_populates="account")


class User(Base):
    """A panel login: the primary account holder, a secondary user bound to one virtual
    number, or an operator admin (no account)."""

    __tablename__ = "users"
    __table_args__ = (
        _choice("role", ROLES),
        CheckConstraint(
            "(role = 'admin' AND account_id IS NULL) OR (role <> 'admin' AND account_id IS NOT NULL)",
            name="admin_has_no_account",
        ),
        CheckConstraint(
            "role <> 'secondary' OR virtual_number_id IS NOT NULL", name="secondary_bound_to_number"
        ),
        Index(
            "uq_users_one_primary_per_account",
            "account_id",
            unique=True,
            postgresql_where=text("role = 'primary'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    virtual_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("virtual_numbers.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    # members log in with a virtual number, admins with a username
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2
    email: Mapped[str] = mapped_column(String(254), server_default="")
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # bumped on password change/reset: every older session stops being valid
    session_version: Mapped[int] = mapped_column(Integer, server_default="0")
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _now()
    # issue 16: two-factor login; the TOTP secret encrypted with the panel's key (never plain),
    # the last accepted time step (a code is accepted once)
    totp_secret_enc: Mapped[str | None] = mapped_column(String(255))
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # the dashboard's "missed calls since last visit"
    home_seen_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    account: Mapped[Account | None] = relationship(back_populates="users")
    virtual_number: Mapped[VirtualNumber | None] = relationship(foreign_keys=[virtual_number_id])


class VirtualNumber(Base):
    """An on-net number with a SIP device, voicemail, forwarding and a calling-card PIN.
    Every option of the help page's Virtual Number section is a column here."""

    __tablename__ = "virtual_numbers"
    __table_args__ = (
        CheckConstraint("number ~ '^[0-9]{4,15}$'", name="number_digits"),
        CheckConstraint("max_contacts BETWEEN 1 AND 10", name="max_contacts_range"),
        CheckConstraint("credit_limit IS NULL OR credit_limit >= 0", name="credit_limit_positive"),
        # issue 13 SIP allow-list: networks PostgreSQL can read as cidr (migration 0019)
        CheckConstraint(
            "sip_allowlist IS NULL OR cardinality(string_to_array(sip_allowlist, ',')::cidr[]) > 0",
            name="sip_allowlist_cidrs",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # also the PJSIP endpoint id
    display_name: Mapped[str] = mapped_column(String(80), server_default="")
    vm_password_hash: Mapped[str | None] = mapped_column(String(255))  # argon2
    sip_md5_cred: Mapped[str | None] = mapped_column(String(40))  # md5(number:realm:password)
    sip_password_set_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # HMAC-SHA256 hex, keyed by the card (secrets.card_pin_hmac); not unique (issue 13)
    pin_hmac: Mapped[str | None] = mapped_column(String(64))
    allow_us_canada_ld: Mapped[bool] = mapped_column(Boolean, server_default="false")
    allow_international_ld: Mapped[bool] = mapped_column(Boolean, server_default="false")
    allow_incoming_800: Mapped[bool] = mapped_column(Boolean, server_default="false")
    voicemail_enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    white_pages: Mapped[bool] = mapped_column(Boolean, server_default="false")
    no_email_updates: Mapped[bool] = mapped_column(Boolean, server_default="false")
    mpo: Mapped[bool] = mapped_column(Boolean, server_default="false")  # -> direct_media
    # pay-as-you-go call credit limit for this number (None: the account's whole credit)
    credit_limit: Mapped[Decimal | None] = mapped_column(MONEY)
    max_contacts: Mapped[int] = mapped_column(SmallInteger, server_default="3")
    # issue 13 SIP allow-list: the networks (canonical CIDRs, comma separated) REGISTER and calls
    # are taken from, published as the endpoint's deny/permit ACL; None: from anywhere
    sip_allowlist: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    account: Mapped[Account] = relationship(back_populates="virtual_numbers")
    forwarding: Mapped[ForwardingRule | None] = relationship(back_populates="virtual_number", uselist=False)


class Did(Base):
    """A PSTN number routed to a virtual number or to fax-to-email."""

    __tablename__ = "dids"
    __table_args__ = (
        _choice("connection", CONNECTIONS),
        CheckConstraint("number ~ '^[0-9]{4,15}$'", name="number_digits"),
        CheckConstraint(
            "(connection = 'virtual_number' AND virtual_number_id IS NOT NULL AND fax_email IS NULL)"
            " OR (connection = 'fax_to_email' AND virtual_number_id IS NULL AND fax_email IS NOT NULL)"
            " OR (connection = 'none' AND virtual_number_id IS NULL AND fax_email IS NULL)",
            name="connection_target",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    connection: Mapped[str] = mapped_column(String(16), server_default="none")
    virtual_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("virtual_numbers.id", ondelete="SET NULL"), index=True
    )
    fax_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    e911: Mapped[E911Address | None] = relationship(back_populates="did", uselist=False)


class ServiceNumber(Base):
    """One of the platform's own numbers: conference dial-in, calling-card or voicemail access,
    or another the operator defines. A member's phone reaches an enabled one inside, free, at
    its dialplan target (controller/rules/service_numbers.py; migration 0013)."""

    __tablename__ = "service_numbers"
    __table_args__ = (
        _choice("service", service_numbers.SERVICES),
        CheckConstraint(f"number ~ '{service_numbers.NUMBER.pattern}'", name="number_digits"),
        CheckConstraint(f"target ~ '{service_numbers.TARGET_PATTERN}'", name="target_location"),
        CheckConstraint(
            f"length(description) <= {service_numbers.MAX_DESCRIPTION}", name="description_length"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    service: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(130))  # context,extension,priority
    description: Mapped[str] = mapped_column(Text, server_default="")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class E911Address(Base):
    __tablename__ = "e911_addresses"

    did_id: Mapped[int] = mapped_column(ForeignKey("dids.id", ondelete="CASCADE"), primary_key=True)
    in_us_ca: Mapped[bool] = mapped_column(Boolean, server_default="true")
    name: Mapped[str] = mapped_column(String(120))
    comment: Mapped[str] = mapped_column(String(200), server_default="")
    state: Mapped[str] = mapped_column(String(80))
    city: Mapped[str] = mapped_column(String(80))
    house_number: Mapped[str] = mapped_column(String(20))
    number_suffix: Mapped[str] = mapped_column(String(10), server_default="")
    street_dir_prefix: Mapped[str] = mapped_column(String(2), server_default="")
    street_name: Mapped[str] = mapped_column(String(120))
    street_dir_suffix: Mapped[str] = mapped_column(String(2), server_default="")
    street_type: Mapped[str] = mapped_column(String(20), server_default="")
    location: Mapped[str] = mapped_column(String(200), server_default="")
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2), server_default="US")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    did: Mapped[Did] = relationship(back_populates="e911")


class ForwardingRule(Base):
    """The Advanced Forwarding Option of one virtual number (steps 1 and 2; step 3 is
    voicemail when enabled). Lists hold numbers as the member dials them."""

    __tablename__ = "forwarding_rules"
    __table_args__ = (
        _choice("step1", STEP1),
        _choice("step1_mode", RING_MODES),
        _choice("no_answer_mode", RING_MODES),
        _choice("busy_mode", RING_MODES),
        CheckConstraint("step1_seconds BETWEEN 1 AND 99", name="step1_seconds_range"),
        CheckConstraint("no_answer_seconds BETWEEN 1 AND 99", name="no_answer_seconds_range"),
        CheckConstraint("busy_seconds BETWEEN 1 AND 99", name="busy_seconds_range"),
        CheckConstraint("device_seconds BETWEEN 1 AND 99", name="device_seconds_range"),
        # issue 16 (migration 0028): screening before the plan, office hours
        CheckConstraint("hours_days BETWEEN 1 AND 127", name="hours_days_range"),
        CheckConstraint("hours_open <> hours_close", name="hours_open_close"),
        _choice("after_hours_step1", STEP1),
        _choice("after_hours_mode", RING_MODES),
        CheckConstraint("after_hours_seconds BETWEEN 1 AND 99", name="after_hours_seconds_range"),
    )

    virtual_number_id: Mapped[int] = mapped_column(
        ForeignKey("virtual_numbers.id", ondelete="CASCADE"), primary_key=True
    )
    step1: Mapped[str] = mapped_column(String(16), server_default="none")
    step1_mode: Mapped[str] = mapped_column(String(16), server_default="simultaneous")
    step1_seconds: Mapped[int] = mapped_column(SmallInteger, server_default="20")
    step1_numbers: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    # how long the member's own devices ring under "no special forwarding"
    device_seconds: Mapped[int] = mapped_column(SmallInteger, server_default="20")
    no_answer_enabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    no_answer_mode: Mapped[str] = mapped_column(String(16), server_default="simultaneous")
    no_answer_seconds: Mapped[int] = mapped_column(SmallInteger, server_default="20")
    no_answer_numbers: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    busy_enabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    busy_mode: Mapped[str] = mapped_column(String(16), server_default="simultaneous")
    busy_seconds: Mapped[int] = mapped_column(SmallInteger, server_default="20")
    busy_numbers: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    # issue 16: do not disturb (straight to step 3), refuse callers without a caller ID, a
    # forwarded leg must press 1 to take the call (controller/rules/screening.py)
    dnd: Mapped[bool] = mapped_column(Boolean, server_default="false")
    reject_anonymous: Mapped[bool] = mapped_column(Boolean, server_default="false")
    confirm_forwarded: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # office hours in the account's time zone: days a bit mask (Monday 1 ... Sunday 64), closes
    # before opens spans midnight; outside them step 1 is after_hours_* (same choices as step1)
    hours_enabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    hours_days: Mapped[int] = mapped_column(SmallInteger, server_default="31")
    hours_open: Mapped[dt.time] = mapped_column(Time, server_default="09:00")
    hours_close: Mapped[dt.time] = mapped_column(Time, server_default="17:00")
    after_hours_step1: Mapped[str] = mapped_column(String(16), server_default="voicemail")
    after_hours_mode: Mapped[str] = mapped_column(String(16), server_default="simultaneous")
    after_hours_seconds: Mapped[int] = mapped_column(SmallInteger, server_default="20")
    after_hours_numbers: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    virtual_number: Mapped[VirtualNumber] = relationship(back_populates="forwarding")


class RegionalAreaCode(Base):
    """Area codes the operator marks regional for callers in another area code
    (a caller's own area code is always regional)."""

    __tablename__ = "regional_area_codes"

    area_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    regional_area_code: Mapped[str] = mapped_column(String(3), primary_key=True)


class CallingPlan(Base):
    __tablename__ = "calling_plans"
    __table_args__ = (
        CheckConstraint("regional_minutes >= 0 AND us_canada_minutes >= 0", name="minutes_positive"),
        CheckConstraint("monthly_price >= 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    regional_minutes: Mapped[int] = mapped_column(Integer, server_default="0")
    us_canada_minutes: Mapped[int] = mapped_column(Integer, server_default="0")
    monthly_price: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")


class PlanSubscription(Base):
    """A calling plan on an account; its minutes apply only to calls from the enabled phone.
    Remaining time is kept in seconds so per-second billing never rounds in the member's disfavour."""

    __tablename__ = "plan_subscriptions"
    __table_args__ = (
        CheckConstraint("regional_seconds_left >= 0", name="regional_left_positive"),
        CheckConstraint("us_canada_seconds_left >= 0", name="us_canada_left_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("calling_plans.id"))
    enabled_virtual_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("virtual_numbers.id", ondelete="SET NULL")
    )
    started_at: Mapped[dt.datetime] = _now()
    renew_date: Mapped[dt.date] = mapped_column(Date)
    regional_seconds_left: Mapped[int] = mapped_column(Integer, server_default="0")
    us_canada_seconds_left: Mapped[int] = mapped_column(Integer, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")

    plan: Mapped[CallingPlan] = relationship()


class CreditLot(Base):
    """Pay-as-you-go call credit, spent oldest lot first."""

    __tablename__ = "credit_lots"
    __table_args__ = (
        CheckConstraint("original > 0", name="original_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= original", name="remaining_in_range"),
        _choice("source", ("voucher", "payment", "admin", "demo")),
        Index(
            "ix_credit_lots_account_open",
            "account_id",
            "purchased_at",
            postgresql_where=text("remaining > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    purchased_at: Mapped[dt.datetime] = _now()
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    original: Mapped[Decimal] = mapped_column(MONEY)
    remaining: Mapped[Decimal] = mapped_column(MONEY)
    source: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(120))


class Voucher(Base):
    __tablename__ = "vouchers"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hmac: Mapped[str] = mapped_column(String(64), unique=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[dt.datetime] = _now()
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    credit_lot_id: Mapped[int | None] = mapped_column(ForeignKey("credit_lots.id"))
    # an admin voided it (it also expires at that moment, so redemption refuses it)
    voided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Payment(Base):
    """A top-up from the external payment portal; idempotent on the portal's payment id."""

    __tablename__ = "payments"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_payment_id: Mapped[str] = mapped_column(String(120), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    received_at: Mapped[dt.datetime] = _now()
    credit_lot_id: Mapped[int] = mapped_column(ForeignKey("credit_lots.id"))


class RateDeck(Base):
    __tablename__ = "rate_decks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    imported_at: Mapped[dt.datetime] = _now()
    active: Mapped[bool] = mapped_column(Boolean, server_default="false")
    __table_args__ = (
        Index("uq_rate_decks_one_active", "active", unique=True, postgresql_where=text("active")),
    )


class Rate(Base):
    """One prefix of a rate deck; the longest matching prefix prices a call."""

    __tablename__ = "rates"
    __table_args__ = (
        UniqueConstraint("deck_id", "prefix", name="uq_rates_deck_prefix"),
        CheckConstraint("prefix ~ '^[0-9]{1,15}$'", name="prefix_digits"),
        CheckConstraint("rate_per_minute >= 0 AND connect_fee >= 0", name="rate_positive"),
        CheckConstraint("min_seconds >= 0 AND increment_seconds >= 1", name="increments_valid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    deck_id: Mapped[int] = mapped_column(ForeignKey("rate_decks.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(15))
    destination: Mapped[str] = mapped_column(String(120), server_default="")
    country: Mapped[str] = mapped_column(String(2), server_default="")
    rate_per_minute: Mapped[Decimal] = mapped_column(RATE)
    connect_fee: Mapped[Decimal] = mapped_column(RATE, server_default="0")
    min_seconds: Mapped[int] = mapped_column(SmallInteger, server_default="60")
    increment_seconds: Mapped[int] = mapped_column(SmallInteger, server_default="60")


class Cdr(Base):
    """Asterisk's cdr table, written by cdr_pgsql (Asterisk's own column names).
    `id` and `vnum` are ours: cdr_pgsql fills unknown columns from CDR variables."""

    __tablename__ = "cdr"
    __table_args__ = (
        Index("ix_cdr_accountcode_start", "accountcode", "start"),
        Index("ix_cdr_dst_start", "dst", "start"),
        Index("ix_cdr_uniqueid", "uniqueid"),
        Index("ix_cdr_unrated", "id", postgresql_where=text("call_class IS NOT NULL")),
        # Call History: index-only keyset scans per member (migration 0006)
        Index("ix_cdr_vnum_start_id", "vnum", "start", "id", postgresql_include=["billsec", "disposition"]),
        # the legs of one call (migration 0012)
        Index("ix_cdr_linkedid", "linkedid"),
        # issue 13, holds: the sweeper asks whether a CDR names a hold (migration 0017)
        Index("ix_cdr_auth_id", "auth_id", postgresql_where=text("auth_id IS NOT NULL")),
        # issue 15, the operator's Call Records search across accounts (migration 0027, which
        # also drops ix_cdr_vnum_start: a prefix of ix_cdr_vnum_start_id)
        Index("ix_cdr_start_id", "start", "id"),
        Index(
            "ix_cdr_carrier_start_id", "carrier", "start", "id", postgresql_where=text("carrier IS NOT NULL")
        ),
        Index("ix_cdr_dialed_pattern", "dialed", postgresql_ops={"dialed": "varchar_pattern_ops"}),
        Index("ix_cdr_src_start_id", "src", "start", "id"),
        # issue 16, a member's data version (webpanel/call_history/kept.py, migration 0033)
        Index("ix_cdr_vnum_id", "vnum", "id"),
        Index("ix_cdr_onnet_dialed_id", "dialed", "id", postgresql_where=text("call_class = 'N'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)  # bigserial
    accountcode: Mapped[str | None] = mapped_column(String(80))
    src: Mapped[str | None] = mapped_column(String(80))
    dst: Mapped[str | None] = mapped_column(String(80))
    dcontext: Mapped[str | None] = mapped_column(String(80))
    clid: Mapped[str | None] = mapped_column(String(80))
    channel: Mapped[str | None] = mapped_column(String(80))
    dstchannel: Mapped[str | None] = mapped_column(String(80))
    lastapp: Mapped[str | None] = mapped_column(String(80))
    lastdata: Mapped[str | None] = mapped_column(String(80))
    start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    answer: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration: Mapped[int | None] = mapped_column(Integer)
    billsec: Mapped[int | None] = mapped_column(Integer)
    disposition: Mapped[str | None] = mapped_column(String(45))
    amaflags: Mapped[str | None] = mapped_column(String(45))
    userfield: Mapped[str | None] = mapped_column(String(256))
    uniqueid: Mapped[str | None] = mapped_column(String(150))
    linkedid: Mapped[str | None] = mapped_column(String(150))
    peeraccount: Mapped[str | None] = mapped_column(String(80))
    sequence: Mapped[int | None] = mapped_column(Integer)
    vnum: Mapped[str | None] = mapped_column(String(40))  # our virtual number, from CDR(vnum)
    # set by the controller's routes on the leg they decide (CDR(call_class) etc.)
    call_class: Mapped[str | None] = mapped_column(String(2))  # controller.rules.numbers.DialClass
    dialed: Mapped[str | None] = mapped_column(String(32))  # E.164 digits of the destination
    auth_id: Mapped[int | None] = mapped_column(BigInteger)  # call_authorizations.id
    # issue 14, carriers: set by the dialplan before each carrier attempt (migration 0020)
    carrier: Mapped[str | None] = mapped_column(String(40))  # the carrier's name
    attempts: Mapped[int | None] = mapped_column(SmallInteger)  # carriers tried so far, this one included
    carrier_attempts: Mapped[str | None] = mapped_column(String(255))  # "name:cause;..." in order


class MemberCall(Base):
    """One call as one of the member's numbers took part in it (placed, received, or forwarded
    by it): the CDRs of one linkedid that are that number's, summed up by the trigger
    member_calls_add on cdr (migration 0012). Call History's and Missed Calls' rows."""

    __tablename__ = "member_calls"
    __table_args__ = (
        UniqueConstraint("vnum", "linkedid"),
        Index("ix_member_calls_vnum_start_id", "vnum", "start", "id", postgresql_include=["seconds"]),
        Index(
            "ix_member_calls_missed", "vnum", "start", "id", postgresql_where=text("inbound AND NOT answered")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    vnum: Mapped[str] = mapped_column(String(40))
    linkedid: Mapped[str] = mapped_column(String(150))  # Asterisk's, shared by the call's CDRs
    start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))  # its first leg's
    inbound: Mapped[bool] = mapped_column(Boolean, server_default="false")  # the number received it
    answered: Mapped[bool] = mapped_column(Boolean, server_default="false")  # by a person
    seconds: Mapped[int] = mapped_column(Integer, server_default="0")  # its longest answered leg


class CallAuthorization(Base):
    """What a billable call was allowed when it started: its maximum length and the plan
    seconds and credit held for it until its CDR is rated. Available balance = balance minus
    the holds of calls in progress, so concurrent calls can never spend the same money twice."""

    __tablename__ = "call_authorizations"
    __table_args__ = (
        CheckConstraint(
            "held_credit >= 0 AND held_plan_seconds >= 0 AND max_seconds >= 0", name="holds_positive"
        ),
        Index("ix_call_authorizations_open", "account_id", postgresql_where=text("settled_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(150), index=True)  # the deciding channel's
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    virtual_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("virtual_numbers.id", ondelete="SET NULL")
    )
    call_class: Mapped[str] = mapped_column(String(2))
    dialed: Mapped[str] = mapped_column(String(32))
    rate_prefix: Mapped[str | None] = mapped_column(String(15))
    max_seconds: Mapped[int] = mapped_column(Integer)
    plan_subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_subscriptions.id", ondelete="SET NULL")
    )
    held_plan_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    held_credit: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    created_at: Mapped[dt.datetime] = _now()
    # a hold whose CDR never arrives stops counting after the call could have ended
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Asterisk's linkedid: legs of one call (forwarding alternatives) do not stack their holds
    call_group: Mapped[str | None] = mapped_column(String(150))


class CdrCharge(Base):
    """The rating of one CDR: exactly one row per CDR (the rater is idempotent on cdr_id)."""

    __tablename__ = "cdr_charges"
    __table_args__ = (
        CheckConstraint("cost >= 0", name="cost_positive"),
        CheckConstraint("billable_seconds >= 0 AND plan_seconds >= 0", name="seconds_positive"),
        Index("ix_cdr_charges_account_rated", "account_id", "rated_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cdr_id: Mapped[int] = mapped_column(ForeignKey("cdr.id", ondelete="CASCADE"), unique=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    virtual_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("virtual_numbers.id", ondelete="SET NULL")
    )
    call_type: Mapped[str] = mapped_column(
        String(4)
    )  # R, D, I, N (on-net), E (911), T (toll-free), PR/PD (plan)
    country: Mapped[str] = mapped_column(String(2), server_default="")
    prefix: Mapped[str | None] = mapped_column(String(15))
    billable_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    plan_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    plan_subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_subscriptions.id", ondelete="SET NULL")
    )
    cost: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    rated_at: Mapped[dt.datetime] = _now()
    # issue 14: the carrier that carried the call, what it cost us, and cost - buy_cost
    carrier_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("carriers.id", ondelete="SET NULL"))
    buy_cost: Mapped[Decimal | None] = mapped_column(MONEY)
    margin: Mapped[Decimal | None] = mapped_column(MONEY)


class CreditDebit(Base):
    """Which credit lot paid how much of a charge."""

    __tablename__ = "credit_debits"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("cdr_charges.id", ondelete="CASCADE"), index=True)
    credit_lot_id: Mapped[int] = mapped_column(ForeignKey("credit_lots.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)


class Fax(Base):
    __tablename__ = "faxes"
    __table_args__ = (
        _choice("status", FAX_STATUS),
        Index("ix_faxes_account_received", "account_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    did_id: Mapped[int | None] = mapped_column(ForeignKey("dids.id", ondelete="SET NULL"))
    received_at: Mapped[dt.datetime] = _now()
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str] = mapped_column(String(255), server_default="")
    remote_station_id: Mapped[str] = mapped_column(String(40), server_default="")
    caller_number: Mapped[str] = mapped_column(String(40), server_default="")
    pages: Mapped[int] = mapped_column(Integer, server_default="0")
    bytes: Mapped[int] = mapped_column(Integer, server_default="0")
    resolution: Mapped[str] = mapped_column(String(40), server_default="")
    transfer_rate: Mapped[str] = mapped_column(String(20), server_default="")
    # builtins.bytes: in this class `bytes` is the size column above
    pdf: Mapped[builtins.bytes | None] = mapped_column(LargeBinary)
    emailed_to: Mapped[str] = mapped_column(String(254), server_default="")
    emailed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Conference(Base):
    __tablename__ = "conferences"
    __table_args__ = (
        _choice("status", CONFERENCE_STATUS),
        CheckConstraint("duration_minutes BETWEEN 5 AND 1440", name="duration_range"),
        CheckConstraint("admin_pin ~ '^[0-9]{4,10}$'", name="admin_pin_digits"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # conference PINs are shown to the organiser and mailed to guests, so they are stored
    # readable; uniqueness across all conferences makes the PIN name the conference
    admin_pin: Mapped[str] = mapped_column(String(10), unique=True)
    admin_name: Mapped[str] = mapped_column(String(120), server_default="")
    admin_phone: Mapped[str] = mapped_column(String(40), server_default="")
    video: Mapped[bool] = mapped_column(Boolean, server_default="false")
    quiet_mode: Mapped[bool] = mapped_column(Boolean, server_default="false")
    allow_800: Mapped[bool] = mapped_column(Boolean, server_default="false")
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    duration_minutes: Mapped[int] = mapped_column(Integer, server_default="60")
    status: Mapped[str] = mapped_column(String(16), server_default="created")
    bridge_id: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = _now()

    guests: Mapped[list[ConferenceGuest]] = relationship(
        back_populates="conference", cascade="all, delete-orphan"
    )


class ConferenceGuest(Base):
    __tablename__ = "conference_guests"
    __table_args__ = (
        _choice("role", GUEST_ROLES),
        CheckConstraint("pin ~ '^[0-9]{4,10}$'", name="pin_digits"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conference_id: Mapped[int] = mapped_column(ForeignKey("conferences.id", ondelete="CASCADE"), index=True)
    virtual_number: Mapped[str] = mapped_column(String(40), server_default="")
    name: Mapped[str] = mapped_column(String(120), server_default="")
    pin: Mapped[str] = mapped_column(String(10), unique=True)
    email: Mapped[str] = mapped_column(String(254), server_default="")
    role: Mapped[str] = mapped_column(String(16), server_default="normal")
    send_invite: Mapped[bool] = mapped_column(Boolean, server_default="false")
    invited_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    conference: Mapped[Conference] = relationship(back_populates="guests")


class VoicemailMessage(Base):
    __tablename__ = "voicemail_messages"
    __table_args__ = (
        _choice("folder", VM_FOLDERS),
        Index("ix_voicemail_messages_box", "virtual_number_id", "folder", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    virtual_number_id: Mapped[int] = mapped_column(ForeignKey("virtual_numbers.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(8), server_default="new")
    caller_name: Mapped[str] = mapped_column(String(80), server_default="")
    caller_number: Mapped[str] = mapped_column(String(40), server_default="")
    received_at: Mapped[dt.datetime] = _now()
    duration_seconds: Mapped[float] = mapped_column(Float, server_default="0")
    audio: Mapped[bytes] = mapped_column(LargeBinary)
    audio_format: Mapped[str] = mapped_column(String(8), server_default="wav")
    emailed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class VoicemailGreeting(Base):
    __tablename__ = "voicemail_greetings"

    virtual_number_id: Mapped[int] = mapped_column(
        ForeignKey("virtual_numbers.id", ondelete="CASCADE"), primary_key=True
    )
    audio: Mapped[bytes] = mapped_column(LargeBinary)
    audio_format: Mapped[str] = mapped_column(String(8), server_default="wav")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Buddy(Base):
    __tablename__ = "buddies"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    virtual_number: Mapped[str] = mapped_column(String(40), server_default="")
    pstn_phone: Mapped[str] = mapped_column(String(40), server_default="")


class Note(Base):
    __tablename__ = "notes"
    __table_args__ = (CheckConstraint("length(body) <= 20000", name="body_length"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    body: Mapped[str] = mapped_column(Text, server_default="")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Lockout(Base):
    """Attempt counters for anything guessable: panel logins, calling-card PINs, caller IDs,
    voicemail passwords. `kind` + `key` name what is counted (keys are hashes, never secrets)."""

    __tablename__ = "lockouts"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, server_default="0")
    first_failure_at: Mapped[dt.datetime] = _now()
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PasswordReset(Base):
    """A "Forgot password" link sent by email (webpanel/auth/recovery.py). Only a SHA-256 of the
    token is kept (DESIGN 5: the link itself is the secret, 256 random bits, so a plain digest
    cannot be brute-forced and a stolen table opens nothing). Single use (used_at), short-lived
    (expires_at), and only for the password the user had when it was asked for
    (session_version: any password change or reset since then voids it)."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = _now()
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = _now()
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(40), server_default="")
    object_id: Mapped[str] = mapped_column(String(40), server_default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    remote_addr: Mapped[str] = mapped_column(String(64), server_default="")


class DialplanVersion(Base):
    """A version of the admin-overridable part of the dialplan (extensions_admin.conf) that was
    applied to Asterisk. The newest row is what Asterisk runs; a rollback applies an older body
    again as a new row, so the history only grows (migration 0008)."""

    __tablename__ = "dialplan_versions"
    __table_args__ = (
        _choice("source", ("edit", "rollback")),
        CheckConstraint("length(body) <= 100000", name="body_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(Text, server_default="")
    sha256: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(String(200), server_default="")
    source: Mapped[str] = mapped_column(String(16), server_default="edit")
    rolled_back_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("dialplan_versions.id", ondelete="SET NULL")
    )
    applied_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    applied_at: Mapped[dt.datetime] = _now()


AST_BOOL = ENUM(
    "0", "1", "off", "on", "false", "true", "no", "yes", name="ast_bool_values", create_type=False
)


class PsContact(Base):
    """Asterisk's own table: written by res_pjsip's registrar through realtime, read by the panel.
    Asterisk 22's columns and types (contrib/ast-db-manage)."""

    __tablename__ = "ps_contacts"

    # unique in the database (ps_contacts_id_key); Asterisk's schema has no primary key
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    uri: Mapped[str | None] = mapped_column(String(511))
    expiration_time: Mapped[int | None] = mapped_column(BigInteger)  # Unix seconds
    qualify_frequency: Mapped[int | None] = mapped_column(Integer)
    outbound_proxy: Mapped[str | None] = mapped_column(String(255))
    path: Mapped[str | None] = mapped_column(Text)
    # text, kept to 255 characters by a trigger (migration 0030): a longer one made the INSERT fail
    user_agent: Mapped[str | None] = mapped_column(Text)
    qualify_timeout: Mapped[float | None] = mapped_column(Float)
    reg_server: Mapped[str | None] = mapped_column(String(255))
    authenticate_qualify: Mapped[str | None] = mapped_column(AST_BOOL)
    via_addr: Mapped[str | None] = mapped_column(String(40))
    via_port: Mapped[int | None] = mapped_column(Integer)
    call_id: Mapped[str | None] = mapped_column(String(255))
    endpoint: Mapped[str | None] = mapped_column(String(255))
    prune_on_boot: Mapped[str | None] = mapped_column(AST_BOOL)
    qualify_2xx_only: Mapped[str | None] = mapped_column(AST_BOOL)


class CdrRatingQueue(Base):
    """CDRs with a call class not rated yet, filled by the trigger cdr_queue_for_rating
    (migration 0005, which also sends pg_notify('cdr_new', id)); the rater deletes a row in the
    transaction that writes the CDR's cdr_charges row."""

    __tablename__ = "cdr_rating_queue"

    cdr_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("cdr.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    queued_at: Mapped[dt.datetime] = _now()


# --- issue 13: panel sessions (webpanel/auth/sessions.py) ----------------------------------


class PanelSession(Base):
    """A logged-in panel session, kept server-side so that logging out, a password change or an
    operator ends it for good (the signed cookie only carries the token). Only the token's
    SHA-256 is stored: a stolen table opens no session."""

    __tablename__ = "panel_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = _now()
    last_seen_at: Mapped[dt.datetime] = _now()
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    remote_addr: Mapped[str] = mapped_column(String(45), server_default="")
    user_agent: Mapped[str] = mapped_column(String(255), server_default="")


# --- issue 13: spending limits (db/limits.py, controller/rules/limits.py; migration 0018) -------


class AccountLimits(Base):
    """An account's spending limits and fraud controls, when the member or the operator set
    any (no row: the settings' defaults): the member's caps and country list within the
    operator's ceilings and allowance, and the velocity rule's tripped state."""

    __tablename__ = "account_limits"

    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    daily_cap: Mapped[Decimal | None] = mapped_column(MONEY)
    daily_cap_ceiling: Mapped[Decimal | None] = mapped_column(MONEY)
    intl_daily_cap: Mapped[Decimal | None] = mapped_column(MONEY)
    intl_daily_cap_ceiling: Mapped[Decimal | None] = mapped_column(MONEY)
    countries: Mapped[list[str] | None] = mapped_column(ARRAY(String(2)))
    countries_allowed: Mapped[list[str] | None] = mapped_column(ARRAY(String(2)))
    max_rate: Mapped[Decimal | None] = mapped_column(RATE)
    max_concurrent: Mapped[int | None] = mapped_column(Integer)
    premium_opt_in: Mapped[bool] = mapped_column(Boolean, server_default="false")
    velocity_intl_attempts: Mapped[int | None] = mapped_column(Integer)
    velocity_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    velocity_minutes: Mapped[int | None] = mapped_column(Integer)
    tripped_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    tripped_reason: Mapped[str] = mapped_column(String(200), server_default="")
    updated_at: Mapped[dt.datetime] = _now()


class NumberLimits(Base):
    """A virtual number's country allow-list and concurrent-call limit (its daily credit limit
    is VirtualNumber.credit_limit)."""

    __tablename__ = "number_limits"

    virtual_number_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("virtual_numbers.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    countries: Mapped[list[str] | None] = mapped_column(ARRAY(String(2)))
    max_concurrent: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = _now()


class PremiumPrefix(Base):
    """A high-cost destination range (E.164 digits prefix): refused unless the account opted in."""

    __tablename__ = "premium_prefixes"

    prefix: Mapped[str] = mapped_column(String(15), primary_key=True)
    description: Mapped[str] = mapped_column(String(120), server_default="")
    created_at: Mapped[dt.datetime] = _now()


class FraudEvent(Base):
    """A call the limits refused, a trip of the velocity rule or its lift."""

    __tablename__ = "fraud_events"
    __table_args__ = (
        Index("ix_fraud_events_created_at", "created_at"),
        Index("ix_fraud_events_account_id", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"))
    virtual_number_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("virtual_numbers.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(300), server_default="")
    created_at: Mapped[dt.datetime] = _now()


# the velocity window's international holds of an account (db/calls.py LIMIT_SELECT)
Index(
    "ix_call_authorizations_international",
    CallAuthorization.account_id,
    CallAuthorization.created_at,
    postgresql_where=text("call_class = 'I'"),
)
# --- end issue 13: spending limits ---


# --- issue 13: spending limits, the day counters (migration 0018, db/calls.py LIMIT_SELECT) ---


class AccountDaySpend(Base):
    """What an account was charged on one local day (its time zone), per number (0: none),
    international apart: kept by migration 0018's trigger on cdr_charges, never by the ORM."""

    __tablename__ = "account_day_spend"

    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    virtual_number_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False, server_default="0"
    )
    amount: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    intl: Mapped[Decimal] = mapped_column(MONEY, server_default="0")


# --- end issue 13: spending limits, the day counters ---


# --- issue 14: carriers and least-cost routing (migration 0020) ---


class Carrier(Base):
    """A SIP trunk of the operator's. Published to Asterisk through realtime as the endpoint,
    aor and auth `carrier-<name>` (and an identify by source address; a registration when
    `register`). `auth_secret` is what Asterisk's realtime needs (the password for
    auth_type userpass, md5(user:realm:password) for md5): never shown back in the panel."""

    __tablename__ = "carriers"
    __table_args__ = (
        UniqueConstraint("name", name="carriers_name_key"),
        CheckConstraint("name ~ '^[a-z0-9][a-z0-9-]{0,31}$'", name="carriers_name_check"),
        CheckConstraint("host ~ '^[A-Za-z0-9.:-]{1,253}$'", name="carriers_host_check"),
        CheckConstraint("port BETWEEN 1 AND 65535", name="carriers_port_check"),
        CheckConstraint("transport IN ('udp', 'tcp', 'tls')", name="carriers_transport_check"),
        CheckConstraint("auth_type IN ('userpass', 'md5')", name="carriers_auth_type_check"),
        CheckConstraint("tech_prefix ~ '^[0-9#*]{0,10}$'", name="carriers_tech_prefix_check"),
        CheckConstraint(
            "caller_id_mode IN ('pass', 'e164', 'national', 'fixed')", name="carriers_caller_id_mode_check"
        ),
        CheckConstraint("caller_id_number ~ '^[+]?[0-9]{0,19}$'", name="carriers_caller_id_number_check"),
        CheckConstraint("codecs ~ '^[a-z0-9_]{1,16}(,[a-z0-9_]{1,16}){0,9}$'", name="carriers_codecs_check"),
        CheckConstraint("max_channels >= 0", name="carriers_max_channels_check"),
        CheckConstraint("qualify_seconds BETWEEN 0 AND 3600", name="carriers_qualify_seconds_check"),
        CheckConstraint("setup_timeout BETWEEN 1 AND 120", name="carriers_setup_timeout_check"),
        CheckConstraint("priority BETWEEN 0 AND 1000", name="carriers_priority_check"),
        CheckConstraint("weight BETWEEN 1 AND 1000", name="carriers_weight_check"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(120), server_default="")
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer, server_default="5060")
    transport: Mapped[str] = mapped_column(String(3), server_default="udp")
    # source addresses/networks its calls come from (comma-separated); empty: its host
    inbound_match: Mapped[str] = mapped_column(String(255), server_default="")
    auth_username: Mapped[str] = mapped_column(String(80), server_default="")
    auth_realm: Mapped[str] = mapped_column(String(80), server_default="")
    auth_type: Mapped[str] = mapped_column(String(8), server_default="userpass")
    auth_secret: Mapped[str] = mapped_column(String(255), server_default="")
    register: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    tech_prefix: Mapped[str] = mapped_column(String(10), server_default="")
    caller_id_mode: Mapped[str] = mapped_column(String(8), server_default="pass")
    caller_id_number: Mapped[str] = mapped_column(String(20), server_default="")
    codecs: Mapped[str] = mapped_column(String(100), server_default="ulaw,alaw")
    max_channels: Mapped[int] = mapped_column(Integer, server_default="0")  # 0: no limit
    qualify_seconds: Mapped[int] = mapped_column(Integer, server_default="30")  # 0: not qualified
    # seconds the carrier has to say anything (ringing, progress) before the next one is tried
    setup_timeout: Mapped[int] = mapped_column(Integer, server_default="8")
    priority: Mapped[int] = mapped_column(SmallInteger, server_default="0")  # lower first at equal cost
    weight: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()


class CarrierRate(Base):
    """One prefix of a carrier's buy deck (the sell deck's columns)."""

    __tablename__ = "carrier_rates"
    __table_args__ = (
        UniqueConstraint("carrier_id", "prefix", name="uq_carrier_rates_carrier_prefix"),
        CheckConstraint("prefix ~ '^[0-9]{1,15}$'", name="carrier_rates_prefix_check"),
        CheckConstraint("rate_per_minute >= 0", name="carrier_rates_rate_per_minute_check"),
        CheckConstraint("connect_fee >= 0", name="carrier_rates_connect_fee_check"),
        CheckConstraint("min_seconds >= 0", name="carrier_rates_min_seconds_check"),
        CheckConstraint("increment_seconds >= 1", name="carrier_rates_increment_seconds_check"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    carrier_id: Mapped[int] = mapped_column(Integer, ForeignKey("carriers.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(15))
    destination: Mapped[str] = mapped_column(String(120), server_default="")
    country: Mapped[str] = mapped_column(String(2), server_default="")
    rate_per_minute: Mapped[Decimal] = mapped_column(RATE)
    connect_fee: Mapped[Decimal] = mapped_column(RATE, server_default="0")
    min_seconds: Mapped[int] = mapped_column(SmallInteger, server_default="60")
    increment_seconds: Mapped[int] = mapped_column(SmallInteger, server_default="60")


class LossPrefix(Base):
    """A destination prefix on which the operator accepts buying above the member's price."""

    __tablename__ = "loss_prefixes"
    __table_args__ = (CheckConstraint("prefix ~ '^[0-9]{1,15}$'", name="loss_prefixes_prefix_check"),)

    prefix: Mapped[str] = mapped_column(String(15), primary_key=True)
    note: Mapped[str] = mapped_column(String(120), server_default="")
    created_at: Mapped[dt.datetime] = _now()


class CarrierHealth(Base):
    """A carrier's last SIP OPTIONS probe by the controller (controller/services/
    carrier_qualify.py): Asterisk does not qualify carriers published through realtime."""

    __tablename__ = "carrier_health"

    carrier_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("carriers.id", ondelete="CASCADE"), primary_key=True
    )
    reachable: Mapped[bool] = mapped_column(Boolean)
    rtt_ms: Mapped[float | None] = mapped_column(REAL)
    checked_at: Mapped[dt.datetime] = _now()
    detail: Mapped[str] = mapped_column(String(120), server_default="")


# --- end issue 14: carriers ---


# --- issue 15: the back office and the public API (migration 0022; triggers in 0023-0026) ----


class AccountAdjustment(Base):
    """A manual credit, debit or refund by an operator, with its required reason."""

    __tablename__ = "account_adjustments"
    __table_args__ = (Index("ix_account_adjustments_account_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # credit, debit, refund
    amount: Mapped[Decimal] = mapped_column(MONEY)  # > 0; the kind says which way
    reason: Mapped[str] = mapped_column(String(500))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    remote_addr: Mapped[str] = mapped_column(String(64), server_default="")
    at: Mapped[dt.datetime] = _now()
    cdr_charge_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("cdr_charges.id", ondelete="SET NULL")
    )
    credit_lot_id: Mapped[int | None] = mapped_column(ForeignKey("credit_lots.id", ondelete="SET NULL"))


class LedgerEntry(Base):
    """One change of an account's credit balance, signed; kept by triggers (migration 0024)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account_at", "account_id", "at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = _now()
    # voucher, payment, admin, demo (credit lots by source), charge, credit, debit, refund, plan_fee
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    credit_lot_id: Mapped[int | None] = mapped_column(ForeignKey("credit_lots.id", ondelete="SET NULL"))
    cdr_charge_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("cdr_charges.id", ondelete="SET NULL")
    )
    adjustment_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("account_adjustments.id", ondelete="SET NULL")
    )
    reference: Mapped[str] = mapped_column(String(200), server_default="")


class CdrRollupDaily(Base):
    """Rated calls summed by UTC day, account, country, call type and carrier (0 = none)."""

    __tablename__ = "cdr_rollup_daily"
    __table_args__ = (Index("ix_cdr_rollup_daily_account_day", "account_id", "day"),)

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    call_type: Mapped[str] = mapped_column(String(4), primary_key=True)
    carrier_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger, server_default="0")
    answered: Mapped[int] = mapped_column(BigInteger, server_default="0")
    billsec: Mapped[int] = mapped_column(BigInteger, server_default="0")
    billable_seconds: Mapped[int] = mapped_column(BigInteger, server_default="0")
    revenue: Mapped[Decimal] = mapped_column(Numeric(16, 4), server_default="0")
    cost: Mapped[Decimal] = mapped_column(Numeric(16, 4), server_default="0")
    margin: Mapped[Decimal] = mapped_column(Numeric(16, 4), server_default="0")


class Invoice(Base):
    """A monthly statement of one account, numbered, immutable once issued (migration 0024)."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("account_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)  # exclusive
    time_zone: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = _now()
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    opening_balance: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    charges: Mapped[Decimal] = mapped_column(Numeric(14, 4), server_default="0")
    plan_fees: Mapped[Decimal] = mapped_column(Numeric(14, 4), server_default="0")
    credit_bought: Mapped[Decimal] = mapped_column(Numeric(14, 4), server_default="0")
    payments: Mapped[Decimal] = mapped_column(Numeric(14, 4), server_default="0")
    adjustments: Mapped[Decimal] = mapped_column(Numeric(14, 4), server_default="0")
    closing_balance: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    lines: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    emailed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    email_error: Mapped[str] = mapped_column(String(300), server_default="")


class ApiToken(Base):
    """A REST API token: only its SHA-256 is kept; scope read, member or operator."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = _now()
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


WEBHOOK_EVENTS = ("call.ended", "voicemail.new", "fax.new", "balance.low", "fraud.tripped")


class Webhook(Base):
    """A URL an account (or the operator: account_id None) registered for events."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_account", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(64))
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[dt.datetime] = _now()
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class WebhookDelivery(Base):
    """One event for one webhook: queued by a trigger, sent (signed) and retried by the controller."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("delivered_at IS NULL AND failed_at IS NULL"),
        ),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[Any] = mapped_column(UUID(as_uuid=False), server_default=text("gen_random_uuid()"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = _now()
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = _now()
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(300), server_default="")
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


# ----- issue 16: the member experience (migration 0028)
class CallBlock(Base):
    """A caller ID (digits) a virtual number refuses."""

    __tablename__ = "call_blocks"
    __table_args__ = (
        CheckConstraint("number ~ '^[0-9]{2,32}$'", name="number_digits"),
        UniqueConstraint("virtual_number_id", "number", name="uq_call_blocks_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    virtual_number_id: Mapped[int] = mapped_column(ForeignKey("virtual_numbers.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(80), server_default="")
    created_at: Mapped[dt.datetime] = _now()


REGISTRATION_EVENTS = (
    "registered",
    "unregistered",
    "expired",
    "bad_password",
    "unknown_user",
    "address_refused",
    "too_many_devices",
    "other_failure",
)


class RegistrationEvent(Base):
    """What Asterisk said about a registration attempt or a contact (AMI security and contact
    events, written by the controller)."""

    __tablename__ = "registration_events"
    __table_args__ = (
        _choice("event", REGISTRATION_EVENTS),
        Index("ix_registration_events_vn_at", "virtual_number_id", text("at DESC"), text("id DESC")),
        Index("ix_registration_events_number_at", "number", text("at DESC"), text("id DESC")),
        Index("ix_registration_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = _now()
    number: Mapped[str] = mapped_column(String(64))  # the account name the phone used
    virtual_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("virtual_numbers.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(24))
    remote_addr: Mapped[str] = mapped_column(String(64), server_default="")
    user_agent: Mapped[str] = mapped_column(String(200), server_default="")
    detail: Mapped[str] = mapped_column(String(200), server_default="")


class NotificationSettings(Base):
    """Which emails an account gets (no row: the defaults below)."""

    __tablename__ = "notification_settings"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    missed_call: Mapped[bool] = mapped_column(Boolean, server_default="false")
    voicemail_email: Mapped[bool] = mapped_column(Boolean, server_default="true")
    voicemail_attach: Mapped[bool] = mapped_column(Boolean, server_default="true")
    voicemail_delete_after: Mapped[bool] = mapped_column(Boolean, server_default="false")
    low_balance: Mapped[bool] = mapped_column(Boolean, server_default="false")
    weekly_summary: Mapped[bool] = mapped_column(Boolean, server_default="false")
    updated_at: Mapped[dt.datetime] = _now()


NOTIFICATION_KINDS = ("missed_call", "voicemail", "low_balance", "weekly_summary", "new_device")


class NotificationSent(Base):
    """One email sent, at most once per (account, kind, key)."""

    __tablename__ = "notifications_sent"
    __table_args__ = (
        _choice("kind", NOTIFICATION_KINDS),
        UniqueConstraint("account_id", "kind", "key", name="uq_notifications_sent_once"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(100))
    sent_to: Mapped[str] = mapped_column(String(254), server_default="")
    sent_at: Mapped[dt.datetime] = _now()


class JobCursor(Base):
    """How far a poller has read (e.g. CDR ids for missed-call emails)."""

    __tablename__ = "job_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[dt.datetime] = _now()


class LowBalanceWatch(Base):
    """Issue 16 (migration 0031): the balance at the notifications round's last look, so a
    low-balance email goes once per crossing under accounts.low_balance_threshold."""

    __tablename__ = "low_balance_watch"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    below: Mapped[bool] = mapped_column(Boolean, server_default="false")
    crossings: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[dt.datetime] = _now()


class UserRecoveryCode(Base):
    """A two-factor recovery code (argon2 hash), good once."""

    __tablename__ = "user_recovery_codes"
    __table_args__ = (Index("ix_user_recovery_codes_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = _now()
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class UserDevice(Base):
    """A browser a user logged in from, known by a cookie (only its SHA-256 is stored)."""

    __tablename__ = "user_devices"
    __table_args__ = (Index("ix_user_devices_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_agent: Mapped[str] = mapped_column(String(200), server_default="")
    remote_addr: Mapped[str] = mapped_column(String(64), server_default="")
    created_at: Mapped[dt.datetime] = _now()
    last_seen_at: Mapped[dt.datetime] = _now()
    # two-factor login is skipped from this browser until then (None: not remembered)
    remember_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
