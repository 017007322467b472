"""Demo data for `make up`: two member accounts (Alice's with a second number and its secondary
user), an operator admin, a plan, credit, DIDs, a small rate deck, and enough of a member's life
to show every section of the help page: a scheduled conference with guests, voicemail messages,
a received fax, buddies, a note, calls in Call History and Missed Calls, and a voucher to redeem.
It also lists the service numbers a member's phone reaches inside (the service_numbers table,
which migration 0013 filled from the settings; a number the settings name and the table lacks is
added).

Idempotent: running it again changes nothing and prints the same lines. Each piece is added only
when it is missing (the demo conference again once the previous one has expired, so the
Conference page always has one to show).

Everything goes through the same service functions the panel and the controller use
(accounts, conference scheduling, voicemail storage, fax TIFF -> PDF, the CDR rater), so the
demo data is what the real paths would have written.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import struct
import wave
from decimal import Decimal

from sqlalchemy import func, literal_column, select, update
from sqlalchemy.orm import Session

from controller.rules import service_numbers as service_rules
from controller.settings import Settings
from db import accounts
from db.models import (
    Account,
    Buddy,
    CallingPlan,
    Carrier,
    CarrierRate,
    Cdr,
    Conference,
    CreditLot,
    Did,
    E911Address,
    Fax,
    Note,
    PlanSubscription,
    RateDeck,
    ServiceNumber,
    User,
    VirtualNumber,
    VoicemailMessage,
    Voucher,
)
from db.rates import import_deck

DEMO_RATES = [
    ("1", "United States / Canada", "US", Decimal("0.0150"), Decimal("0"), 6, 6),
    ("1800", "US toll-free", "US", Decimal("0"), Decimal("0"), 0, 1),
    ("1888", "US toll-free", "US", Decimal("0"), Decimal("0"), 0, 1),
    ("1877", "US toll-free", "US", Decimal("0"), Decimal("0"), 0, 1),
    ("1866", "US toll-free", "US", Decimal("0"), Decimal("0"), 0, 1),
    ("44", "United Kingdom", "GB", Decimal("0.0300"), Decimal("0"), 60, 60),
    ("447", "United Kingdom mobile", "GB", Decimal("0.1200"), Decimal("0"), 60, 60),
    ("33", "France", "FR", Decimal("0.0350"), Decimal("0"), 60, 60),
    ("52", "Mexico", "MX", Decimal("0.0450"), Decimal("0"), 60, 60),
    ("49", "Germany", "DE", Decimal("0.0320"), Decimal("0"), 60, 60),
]

# login, password, first, last, sip password, vm password, pin
DEMO_MEMBERS = [
    # PINs: the calling card asks for the card number (the login) first; none of the PINs a
    # guesser tries first (controller.rules.secrets.guessable_pin; issue 13)
    ("17005550101", "Demo-Alice-2026", "Alice", "Anders", "AliceSip2026x", "1234", "4831"),
    ("17005550102", "Demo-Bob-2026", "Bob", "Brown", "BobSip2026xyz", "2345", "5728"),
]
# a second virtual number on Alice's account, with its own (secondary) login: the help page's
# "Primary Account Holders only" options are visible to Alice and not to Carol
DEMO_SECONDARY = ("17005550103", "Demo-Carol-2026", "Carol Anders", "CarolSip2026x", "3456")
DEMO_ADMIN = ("admin", "Demo-Admin-2026")
# Recharge Call Credit: a prepaid voucher a member can redeem once
DEMO_VOUCHER = ("DEMO-RECH-ARGE-2026", Decimal("5.00"))
DEMO_HISTORY_DAYS = 30  # the demo members' numbers date back this far (Call History starts there)
DEMO_CDR_TAG = "demo-"  # uniqueid prefix of the demo calls
BOB_CLID = '"Bob Brown" <17005550102>'


def seed(session: Session, settings: Settings) -> list[str]:
    """Returns printable lines naming every demo login."""
    lines = []
    for login, pw, first, last, sip_pw, vm_pw, pin in DEMO_MEMBERS:
        if not session.scalar(select(User.id).where(User.login == login)):
            account, user, vn = accounts.create_account(
                session,
                login_number=login,
                password=pw,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}@example.test",
                realm=settings.sip_realm,
                sip_password=sip_pw,
                city="Springfield",
                state="IL",
                country="US",
                time_zone="America/Chicago",
            )
            accounts.set_vm_password(session, vn, vm_pw)
            accounts.set_pin(session, vn, pin, key=settings.pin_hmac_key)
            accounts.update_options(session, vn, as_primary=True, allow_us_canada_ld=True, white_pages=True)
            session.add(
                CreditLot(
                    account_id=account.id,
                    original=Decimal("10.00"),
                    remaining=Decimal("10.00"),
                    source="demo",
                )
            )
        lines.append(
            f"member  {login}  panel password {pw}  SIP password {sip_pw}  VM password {vm_pw}  "
            f"calling card {login} PIN {pin}"
        )
    alice = session.scalars(select(VirtualNumber).where(VirtualNumber.number == DEMO_MEMBERS[0][0])).one()
    bob = session.scalars(select(VirtualNumber).where(VirtualNumber.number == DEMO_MEMBERS[1][0])).one()
    alice_user = session.scalars(select(User).where(User.login == alice.number)).one()

    lines.append(_secondary(session, settings, alice))
    if not session.scalar(select(User.id).where(User.login == DEMO_ADMIN[0])):
        accounts.create_admin(session, *DEMO_ADMIN)
    lines.append(f"admin   {DEMO_ADMIN[0]}  password {DEMO_ADMIN[1]}")

    plan = session.scalar(select(CallingPlan).where(CallingPlan.name == "North America 500"))
    if plan is None:
        plan = CallingPlan(
            name="North America 500",
            regional_minutes=500,
            us_canada_minutes=500,
            monthly_price=Decimal("9.95"),
        )
        session.add(plan)
        session.flush()
        today = dt.date.today()
        session.add(
            PlanSubscription(
                account_id=alice.account_id,
                plan_id=plan.id,
                enabled_virtual_number_id=alice.id,
                renew_date=(today.replace(day=1) + dt.timedelta(days=32)).replace(day=1),
                regional_seconds_left=500 * 60,
                us_canada_seconds_left=500 * 60,
            )
        )
        did = Did(
            account_id=alice.account_id,
            number="13125550101",
            connection="virtual_number",
            virtual_number_id=alice.id,
        )
        fax = Did(
            account_id=alice.account_id,
            number="13125550199",
            connection="fax_to_email",
            fax_email="alice@example.test",
        )
        session.add_all([did, fax])
        session.flush()
        session.add(
            E911Address(
                did_id=did.id,
                name="Alice Anders",
                state="IL",
                city="Springfield",
                house_number="100",
                street_name="Main",
                street_type="St",
                postal_code="62701",
            )
        )
    if not session.scalar(select(RateDeck.id).where(RateDeck.active.is_(True))):
        import_deck(session, "demo", DEMO_RATES)
    session.flush()

    _buddies_and_note(session, alice_user)
    _calls(session, alice, bob)
    lines.append(_conference(session, settings, alice_user, bob))
    lines.append(_voicemail(session, alice))
    _fax(session, alice)
    lines.append(_voucher(session, settings))
    lines += _service_numbers(session, settings)
    lines += _carriers(session)
    session.flush()
    return lines


def _service_numbers(session: Session, settings: Settings) -> list[str]:
    """The service numbers as `make up` prints them (from any phone of a member: inside, free)."""
    seeds = service_rules.from_settings(
        conference_numbers=settings.conference_numbers,
        conference_tollfree_numbers=settings.conference_tollfree_numbers,
        callingcard_numbers=settings.callingcard_numbers,
        voicemail_numbers=settings.voicemail_numbers,
    )
    known = set(session.scalars(select(ServiceNumber.number)))
    session.add_all(
        ServiceNumber(number=s.number, service=s.service, target=s.target, description=s.description)
        for s in seeds
        if s.number not in known
    )
    session.flush()
    rows = session.scalars(select(ServiceNumber).where(ServiceNumber.enabled).order_by(ServiceNumber.id))
    return [f"service {row.number}  {row.service}: {row.description}" for row in rows]


# --- Alice's account ---------------------------------------------------------------------------


def _secondary(session: Session, settings: Settings, alice: VirtualNumber) -> str:
    number, pw, name, sip_pw, vm_pw = DEMO_SECONDARY
    vn = session.scalar(select(VirtualNumber).where(VirtualNumber.number == number))
    if vn is None:
        account = session.get_one(Account, alice.account_id)
        vn = accounts.add_virtual_number(
            session, account, number, realm=settings.sip_realm, sip_password=sip_pw, display_name=name
        )
        accounts.set_vm_password(session, vn, vm_pw)
        accounts.update_options(session, vn, as_primary=True, allow_us_canada_ld=True)
    if not session.scalar(select(User.id).where(User.login == number)):
        accounts.add_secondary_user(session, vn, pw, email="carol@example.test")
    return (
        f"member  {number}  panel password {pw}  SIP password {sip_pw}  VM password {vm_pw}  "
        f"(secondary user on {alice.number}'s account)"
    )


def _buddies_and_note(session: Session, alice_user: User) -> None:
    if not session.scalar(select(Buddy.id).where(Buddy.user_id == alice_user.id).limit(1)):
        session.add_all(
            [
                Buddy(user_id=alice_user.id, name="Bob Brown", virtual_number=DEMO_MEMBERS[1][0]),
                Buddy(user_id=alice_user.id, name="Springfield Dental", pstn_phone="13125550142"),
            ]
        )
    if session.get(Note, alice_user.id) is None:
        session.add(
            Note(
                user_id=alice_user.id,
                body=(
                    "Call the dentist back about Thursday.\n"
                    "Team call tomorrow at 10:00: the PINs are on the Conference page.\n"
                ),
            )
        )


# --- Call History and Missed Calls --------------------------------------------------------------


def _calls(session: Session, alice: VirtualNumber, bob: VirtualNumber) -> None:
    """A few days of Alice's calls, as Asterisk's cdr_pgsql and the controller's routes write them,
    priced by the real rater (plan minutes, pay-as-you-go credit, free calls)."""
    if session.scalar(select(Cdr.id).where(Cdr.uniqueid.like(DEMO_CDR_TAG + "%")).limit(1)):
        return
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    # Call History shows a number's calls from the day it joined: the demo numbers joined a
    # month ago, so the calls below (the last few days) are theirs
    joined = now - dt.timedelta(days=DEMO_HISTORY_DAYS)
    session.execute(
        update(VirtualNumber)
        .where(VirtualNumber.id.in_([alice.id, bob.id]), VirtualNumber.created_at > joined)
        .values(created_at=joined)
    )
    session.execute(
        update(Account)
        .where(Account.id.in_([alice.account_id, bob.account_id]), Account.created_at > joined)
        .values(created_at=joined)
    )
    a, b = alice.number, bob.number
    account = str(alice.account_id)
    # (days ago, hour UTC, src, dst, clid, vnum, call_class, dialed, disposition, billsec, dstchannel)
    calls = [
        (
            4,
            15,
            a,
            "13125550142",
            f'"Alice Anders" <{a}>',
            a,
            "D",
            "13125550142",
            "ANSWERED",
            184,
            "PJSIP/pstn",
        ),
        (3, 14, a, b, f'"Alice Anders" <{a}>', a, "N", b, "ANSWERED", 95, f"PJSIP/{b}"),
        (3, 16, b, a, BOB_CLID, a, None, None, "NO ANSWER", 0, ""),
        (
            2,
            17,
            a,
            "442071838750",
            f'"Alice Anders" <{a}>',
            a,
            "I",
            "442071838750",
            "ANSWERED",
            62,
            "PJSIP/pstn",
        ),
        (
            2,
            19,
            a,
            "18005550199",
            f'"Alice Anders" <{a}>',
            a,
            "T",
            "18005550199",
            "ANSWERED",
            40,
            "PJSIP/pstn",
        ),
        (1, 13, "13125550177", "13125550101", '"Pat Smith" <13125550177>', a, None, None, "NO ANSWER", 0, ""),
        (1, 15, b, a, BOB_CLID, a, None, None, "ANSWERED", 300, f"PJSIP/{a}"),
        (1, 18, a, "16505550123", f'"Alice Anders" <{a}>', a, "D", "16505550123", "BUSY", 0, "PJSIP/pstn"),
    ]
    ids = []
    for n, (days, hour, src, dst, clid, vnum, call_class, dialed, disposition, billsec, dstchan) in enumerate(
        calls
    ):
        start = (now - dt.timedelta(days=days)).replace(hour=hour, minute=5 + 7 * n, second=12)
        answered = disposition == "ANSWERED"
        ring = 6 if answered else 20
        uid = f"{DEMO_CDR_TAG}{int(start.timestamp())}.{n}"
        outbound = call_class is not None
        cdr = Cdr(
            accountcode=account if outbound else "",
            src=src,
            dst=dst,
            clid=clid,
            dcontext="members" if outbound else "incoming",
            channel=f"PJSIP/{src if outbound else 'pstn'}-{n:08x}",
            dstchannel=f"{dstchan}-{n + 100:08x}" if dstchan else "",
            lastapp="Dial",
            lastdata=f"PJSIP/{dst}",
            start=start,
            answer=start + dt.timedelta(seconds=ring) if answered else None,
            end=start + dt.timedelta(seconds=ring + billsec),
            duration=ring + billsec,
            billsec=billsec,
            disposition=disposition,
            amaflags="DOCUMENTATION",
            uniqueid=uid,
            linkedid=uid,
            sequence=n,
            vnum=vnum,
            call_class=call_class,
            dialed=dialed,
        )
        session.add(cdr)
        session.flush()
        if outbound:
            ids.append(cdr.id)
    from controller.services import rater

    rater.rate_batch(session, batch=len(ids), only_ids=ids)


# --- Conference -----------------------------------------------------------------------------------


def _conference(session: Session, settings: Settings, alice_user: User, bob: VirtualNumber) -> str:
    """Alice's team call tomorrow at 10:00 (her time zone), with Bob and an outside guest, made
    by the scheduler the panel saves its form with (same rows, PINs and audit entry). A new one
    only when she has none that is still to come."""
    from controller.services.conference import schedule

    now = dt.datetime.now(dt.UTC)
    upcoming = (
        select(Conference)
        .where(
            Conference.account_id == alice_user.account_id,
            Conference.status != "expired",
            Conference.starts_at + literal_column("interval '1 minute'") * Conference.duration_minutes > now,
        )
        .order_by(Conference.starts_at, Conference.id)
        .limit(1)
    )
    conference = session.scalar(upcoming)
    tz = schedule.user_zone(alice_user)
    if conference is None:
        tomorrow = now.astimezone(tz).date() + dt.timedelta(days=1)
        conference, _guests = schedule.create(
            session,
            alice_user,
            starts_at=schedule.to_utc(tomorrow, dt.time(10, 0), tz),
            duration_minutes=60,
            admin_name="Alice Anders",
            admin_phone=alice_user.login,
            guests=[
                schedule.NewGuest(
                    virtual_number=bob.number, name="Bob Brown", email="bob@example.test", role="normal"
                ),
                schedule.NewGuest(name="Pat Smith", email="pat@example.test", role="listen_only"),
            ],
        )
    day, at = schedule.local_parts(conference.starts_at, tz)
    guests = ", ".join(f"{g.name} {g.pin}" for g in sorted(conference.guests, key=lambda g: g.id))
    dial_in = settings.conference_numbers.split(",")[0].strip()
    return (
        f"conference  {day} {at} {tz.key}  dial {dial_in}, admin PIN {conference.admin_pin}, "
        f"guest PINs: {guests}"
    )


# --- Voicemail ------------------------------------------------------------------------------------

# caller name, caller number, days ago, folder, notes (Hz, ms) of the message's audio
DEMO_MESSAGES = [
    (
        "Bob Brown",
        "17005550102",
        0,
        "new",
        [(523, 300), (659, 300), (784, 450), (0, 250), (784, 300), (659, 300), (523, 600)],
    ),
    (
        "Springfield Dental",
        "13125550142",
        2,
        "saved",
        [(440, 350), (0, 150), (440, 350), (0, 150), (587, 500), (494, 800)],
    ),
]


def _voicemail(session: Session, alice: VirtualNumber) -> str:
    """Two messages in Alice's mailbox (one new, one saved), stored like a deposit stores them:
    in PostgreSQL (voicemail_messages.audio) through controller.services.voicemail.service, as the 8 kHz
    mono WAV that media.to_asterisk_wav makes. The media dir holds no messages: the retrieval
    call writes one there (MediaDir.message) only while it plays it, and the panel's player
    reads the database."""
    from controller.services.voicemail import media, mwi, service

    for name, number, days, folder, notes in DEMO_MESSAGES:
        if session.scalar(
            select(VoicemailMessage.id).where(
                VoicemailMessage.virtual_number_id == alice.id, VoicemailMessage.caller_number == number
            )
        ):
            continue
        audio = media.to_asterisk_wav(demo_wav(notes))
        assert audio is not None  # demo_wav makes a PCM WAV
        message_id = service.store_message(
            session,
            alice.id,
            audio=audio,
            duration_seconds=service.wav_seconds(audio),
            caller_name=name,
            caller_number=number,
            notify=mwi.queue_mwi,
        )
        session.execute(
            update(VoicemailMessage)
            .where(VoicemailMessage.id == message_id)
            .values(received_at=func.now() - dt.timedelta(days=days, hours=1))
        )
        if folder == service.SAVED:
            service.save_message(session, alice.id, message_id, notify=mwi.queue_mwi)
    new, saved = service.counts(session, alice.id)
    return f"voicemail  {alice.number}: {new} new, {saved} saved"


def demo_wav(notes: list[tuple[int, int]], rate: int = 8000) -> bytes:
    """A short chime as a PCM WAV (8 kHz, 16-bit, mono): each note a sine with a soft attack and
    decay, 0 Hz a pause."""
    frames = bytearray()
    for freq, ms in notes:
        n = rate * ms // 1000
        for i in range(n):
            envelope = min(1.0, i / (0.01 * rate)) * math.exp(-3.0 * i / max(n, 1))
            value = 0.0 if freq == 0 else 0.45 * envelope * math.sin(2 * math.pi * freq * i / rate)
            frames += struct.pack("<h", int(value * 32767))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()


# --- Carriers (issue 14) -------------------------------------------------------------------------
# The demo's simulated carriers: SIPp UAS processes that scripts/sim-carriers starts (it reads this
# list) on these loopback addresses, each buying every prefix of the demo deck at a share of the
# member's price. Least-cost routing tries `cheap` first; it refuses numbers ending in 0503 (503)
# and stays silent on numbers ending in 0599 (its 4 s setup time runs out), so those calls fail
# over to `backup`, which carries everything; a number ending in 0486 is busy at the far end
# (no failover). name, address, port, tests/sipp scenario, share of the sell rate, setup seconds
DEMO_CARRIERS = [
    ("cheap", "127.0.0.4", 5080, "carrier_by_number.xml", Decimal("0.40"), 4),
    ("backup", "127.0.0.5", 5080, "carrier_answer.xml", Decimal("0.60"), 8),
    ("premium", "127.0.0.6", 5080, "carrier_answer.xml", Decimal("0.80"), 8),
]


def _carriers(session: Session) -> list[str]:
    """The demo carriers and their buy decks (each prefix of DEMO_RATES at its share), once."""
    for name, host, port, _scenario, share, setup in DEMO_CARRIERS:
        if session.scalar(select(Carrier.id).where(Carrier.name == name)):
            continue
        carrier = Carrier(
            name=name,
            description=f"simulated carrier (scripts/sim-carriers, {_scenario})",
            host=host,
            port=port,
            setup_timeout=setup,
            qualify_seconds=30,
        )
        session.add(carrier)
        session.flush()
        session.add_all(
            CarrierRate(
                carrier_id=carrier.id,
                prefix=prefix,
                destination=destination,
                country=country,
                rate_per_minute=(rate * share).quantize(Decimal("0.00001")),
                connect_fee=fee,
                min_seconds=min_s,
                increment_seconds=inc_s,
            )
            for prefix, destination, country, rate, fee, min_s, inc_s in DEMO_RATES
        )
    return [
        "carriers cheap, backup, premium (scripts/sim-carriers): a number ending in 0503 or 0599 "
        "fails over from cheap to backup; 0486 is busy"
    ]


# --- Faxes ----------------------------------------------------------------------------------------


def _fax(session: Session, alice: VirtualNumber) -> None:
    """One fax received on Alice's fax-to-email DID: a one-page fax TIFF made into a PDF by the
    controller's own tiff_to_pdf."""
    fax_did = session.scalar(select(Did).where(Did.number == "13125550199"))
    if fax_did is None or session.scalar(select(Fax.id).where(Fax.account_id == alice.account_id).limit(1)):
        return
    from controller.services.fax import tiff_to_pdf

    document = tiff_to_pdf(demo_fax_tiff())
    received = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1, hours=3)
    session.add(
        Fax(
            account_id=alice.account_id,
            did_id=fax_did.id,
            received_at=received,
            status="received",
            remote_station_id="+1 312 555 0142",
            caller_number="13125550142",
            pages=document.pages,
            bytes=len(document.pdf),
            resolution=f"{document.dpi[0]}x{document.dpi[1]}",
            transfer_rate="14400",
            pdf=document.pdf,
            emailed_to=fax_did.fax_email,
            emailed_at=received,
        )
    )


def demo_fax_tiff() -> bytes:
    """A one-page fax image (1-bit, 204x196 dpi, CCITT G4 like a received fax)."""
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("1", (1728, 1100), 1)
    draw = ImageDraw.Draw(page)
    try:
        big, small = ImageFont.load_default(size=64), ImageFont.load_default(size=36)
    except TypeError:  # Pillow without FreeType sizes
        big = small = ImageFont.load_default()
    draw.rectangle((60, 60, 1668, 1040), outline=0, width=6)
    draw.text((120, 120), "Springfield Dental", font=big, fill=0)
    draw.text((120, 240), "FAX  to Alice Anders  (312) 555-0199", font=small, fill=0)
    draw.line((120, 310, 1608, 310), fill=0, width=4)
    for i, line in enumerate(
        [
            "Appointment confirmed: Thursday, 9:30.",
            "Please arrive ten minutes early.",
            "Call us at (312) 555-0142 to reschedule.",
        ]
    ):
        draw.text((120, 380 + 80 * i), line, font=small, fill=0)
    out = io.BytesIO()
    page.save(out, format="TIFF", compression="group4", dpi=(204, 196))
    return out.getvalue()


# --- Recharge Call Credit -------------------------------------------------------------------------


def _voucher(session: Session, settings: Settings) -> str:
    from controller.rules.secrets import voucher_hmac

    code, amount = DEMO_VOUCHER
    digest = voucher_hmac(settings.pin_hmac_key, code)
    if not session.scalar(select(Voucher.id).where(Voucher.code_hmac == digest)):
        session.add(Voucher(code_hmac=digest, amount=amount))
    return f"voucher {code}  ${amount} of call credit (Recharge Call Credit; redeemable once)"
