"""The demo seed (`make up`) on the real database: every help-page section has something to
show, the data is what the real paths write (playable voicemail audio, a fax PDF, rated calls),
and seeding again adds nothing."""

from __future__ import annotations

import io
import wave

import pytest
from sqlalchemy import func, select

from controller.demo import DEMO_MEMBERS, DEMO_SECONDARY, DEMO_VOUCHER, seed
from controller.services.voicemail import media, service
from db.models import (
    Buddy,
    Cdr,
    CdrCharge,
    CdrRatingQueue,
    Conference,
    ConferenceGuest,
    Fax,
    Note,
    User,
    VirtualNumber,
    VoicemailMessage,
    Voucher,
)
from db.session import transaction
from tests.support.carriers import disable_demo_carriers
from webpanel.recharge.services import code_hmac

COUNTED = (
    User,
    VirtualNumber,
    Conference,
    ConferenceGuest,
    VoicemailMessage,
    Cdr,
    CdrCharge,
    Fax,
    Buddy,
    Note,
    Voucher,
)


def counts(s) -> dict[str, int]:
    return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in COUNTED}


@pytest.fixture()
def demo_carriers_off(factory):
    yield
    disable_demo_carriers(factory)


def test_demo_seed_fills_every_section_once(database, factory, demo_carriers_off):
    with transaction(factory) as s:
        first = seed(s, database)
    with factory() as s:
        before = counts(s)
    with transaction(factory) as s:
        again = seed(s, database)
    with factory() as s:
        assert counts(s) == before, "a second seed added rows"
        assert first == again

        alice = s.scalar(select(VirtualNumber).where(VirtualNumber.number == DEMO_MEMBERS[0][0]))
        carol = s.scalar(select(User).where(User.login == DEMO_SECONDARY[0]))
        assert carol.role == "secondary" and carol.account_id == alice.account_id

        conference = s.scalar(select(Conference).where(Conference.account_id == alice.account_id))
        assert conference.status == "created" and len(conference.guests) == 2
        assert any(f"admin PIN {conference.admin_pin}" in line for line in first)

        messages = service.list_messages(s, alice.id)
        assert [m.folder for m in messages] == ["new", "saved"]
        for m in messages:
            audio, fmt = service.get_audio(s, alice.id, m.id)
            assert fmt == "wav" and media.to_asterisk_wav(audio) == audio  # already what Asterisk plays
            with wave.open(io.BytesIO(audio)) as w:
                assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
            assert 2.0 < m.duration_seconds < 6.0

        fax = s.scalar(select(Fax).where(Fax.account_id == alice.account_id))
        assert fax.pdf.startswith(b"%PDF") and fax.pages == 1 and fax.bytes == len(fax.pdf)

        demo_calls = select(Cdr.id).where(Cdr.uniqueid.like("demo-%"), Cdr.call_class.is_not(None))
        charged = s.scalars(select(CdrCharge.call_type).where(CdrCharge.cdr_id.in_(demo_calls))).all()
        assert sorted(charged) == ["D", "I", "N", "PD", "T"]
        assert not s.scalar(
            select(func.count()).select_from(CdrRatingQueue).where(CdrRatingQueue.cdr_id.in_(demo_calls))
        )
        assert alice.created_at < s.scalar(select(func.min(Cdr.start)).where(Cdr.uniqueid.like("demo-%")))

        assert (
            s.scalar(
                select(Voucher.amount).where(
                    Voucher.code_hmac == code_hmac(database.pin_hmac_key, DEMO_VOUCHER[0])
                )
            )
            == DEMO_VOUCHER[1]
        )
