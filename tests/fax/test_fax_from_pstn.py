"""A fax from the PSTN as a carrier delivers it, to a Fax-to-Email DID, ending in the mailbox.

The sender is Asterisk's own SendFAX (spandsp) on a fax machine of the test instance's PSTN
(asterisk_conf/templates/test/pjsip_test.conf): it calls the DID over SIP from the carrier's
address, so the call comes in on the carrier endpoint (configured like production's PSTN trunk,
T.38 on) and takes production's path: from-pstn, route inbound, the fax flow, the PDF in
PostgreSQL and a mail with it at a real SMTP server. The audio machine has no T.38 and refuses
the receiver's T.38 re-INVITE, as most of the PSTN does, so its pages go as G.711 audio; the
T.38 machine accepts it.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path, PurePosixPath

import pytest
from sqlalchemy import select

from controller.rules import channel_vars as cv
from db.models import Fax
from tests.fax.faxes import (
    CARRIER_ENDPOINT,
    FAX_MACHINE_AUDIO,
    FAX_MACHINE_T38,
    make_fax_did,
    pdf_page_count,
    tiff_f,
)
from tests.support.events import AmiRecorder
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

SENDER_CID = "PSTN Fax <14155550100>"


@pytest.fixture()
def tiff_to_send(controller, settings):
    """A two-page TIFF-F in the instance's fax spool, as Asterisk sees its path."""
    name = f"test-send-{uuid.uuid4().hex}.tif"
    local = Path(settings.fax_local_dir) / name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(tiff_f(2))
    yield str(PurePosixPath(settings.fax_dir) / name)
    local.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "machine, mode",
    [(FAX_MACHINE_AUDIO, "audio"), (FAX_MACHINE_T38, "T38")],
    ids=["audio-g711", "t38"],
)
async def test_a_fax_from_the_pstn_over_sip_ends_as_a_pdf_in_the_dids_mailbox(
    controller, factory, settings, smtp_server, tiff_to_send, machine, mode, caplog
):
    caplog.set_level(logging.INFO, logger="controller.services.fax")
    address = f"fax.{mode.lower()}@example.com"
    did, account_id, did_id = make_fax_did(factory, settings, email=address)
    events = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    handled = controller.agi.handled
    try:
        await controller.ami.originate(
            f"PJSIP/{did}@{machine}",
            context=cv.CTX_TEST_FAX_SENDER,
            exten="fax-send",
            variables={cv.VAR_TEST_FAX_FILE: tiff_to_send},
            caller_id=SENDER_CID,
            timeout_ms=30000,
        )
        await until(lambda: controller.agi.handled > handled, timeout=150, what="the fax call to end")
        sent = await events.wait_for(
            30, UserEvent="VoipFaxSent", Channel=lambda ch: ch.startswith(f"PJSIP/{machine}-")
        )
    finally:
        events.close()
    seen = [(e.get("Event"), e.get("UserEvent"), e.get("Channel"), e.get("Exten")) for e in events.events]
    # the receiving leg came in over SIP on the carrier endpoint, not over a Local channel, and
    # ended as a received fax, not as a refusal announced to a fax machine
    assert any(
        e.get("Event") == "Hangup" and e.get("Channel", "").startswith(f"PJSIP/{CARRIER_ENDPOINT}-")
        for e in events.events
    ), seen
    assert not events.matching(UserEvent="VoipRefused"), seen

    # each end's own verdict: every page went, in the mode the sending machine allows
    assert sent.get("Status") == "SUCCESS", sent
    assert sent.get("Pages") == "2" and sent.get("Mode") == mode, sent
    [stored] = [r for r in caplog.records if r.getMessage() == "fax stored"]
    assert (stored.status, stored.pages, stored.mode) == ("received", 2, mode)

    with factory() as s:
        [fax] = s.scalars(select(Fax).where(Fax.account_id == account_id)).all()
    assert fax.status == "received", fax.error
    assert fax.did_id == did_id and fax.error == ""
    assert fax.pages == 2 and pdf_page_count(fax.pdf) == 2
    assert fax.caller_number == "14155550100"
    assert fax.remote_station_id == "+1 415 555 0100"
    assert fax.emailed_to == address and fax.emailed_at is not None

    [mail] = await smtp_server.wait_for(1)
    assert mail.rcpt_tos == [address]
    assert did in mail.message["Subject"] and "2 pages" in mail.message["Subject"]
    [(filename, content, mimetype)] = mail.attachments()
    assert mimetype == "application/pdf" and filename.endswith(".pdf")
    assert content == fax.pdf and pdf_page_count(content) == 2
