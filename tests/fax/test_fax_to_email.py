"""Fax to Email end to end on the real Asterisk: one Local leg runs SendFAX (spandsp) with a
two-page TIFF-F, the other runs our `fax` route for a Fax-to-Email DID; the fax lands in
PostgreSQL as a PDF and reaches a real SMTP server. Failed faxes and a dead SMTP server are
recorded too."""

from __future__ import annotations

import uuid
from pathlib import Path, PurePosixPath

import pytest
from sqlalchemy import select

from controller.rules import channel_vars as cv
from db.models import Fax
from tests.fax.faxes import make_fax_did, pdf_page_count, tiff_f
from tests.support.events import AmiRecorder
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

SENDER_CID = "Fax Sender <14155550100>"


@pytest.fixture(params=["group3"])
def tiff_to_send(request, controller, settings):
    """A two-page TIFF-F in the instance's fax spool: (path as Asterisk sees it, local path)."""
    name = f"test-send-{uuid.uuid4().hex}.tif"
    local = Path(settings.fax_local_dir) / name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(tiff_f(2, compression=request.param))
    yield str(PurePosixPath(settings.fax_dir) / name), local
    local.unlink(missing_ok=True)


def faxes_of(factory, account_id: int) -> list[Fax]:
    with factory() as s:
        return list(s.scalars(select(Fax).where(Fax.account_id == account_id)))


async def run_fax_call(controller, did: str, *, send_file: str | None, via_pstn: bool = False) -> None:
    """Originate the two legs and wait until our fax route has finished with the call.
    via_pstn: the receiving leg is a PSTN call to the DID (context from-pstn, route inbound)
    instead of the `fax` route with the DID as argument."""
    handled = controller.agi.handled
    variables = {cv.VAR_TEST_FAX_DID: did}
    receiver = f"Local/{did}@{cv.CTX_FROM_PSTN}" if via_pstn else f"Local/fax-receive@{cv.CTX_TEST}"
    if send_file:
        variables[cv.VAR_TEST_FAX_FILE] = send_file
        await controller.ami.originate(
            receiver,
            context=cv.CTX_TEST_FAX_SENDER,
            exten="fax-send",
            variables=variables,
            caller_id=SENDER_CID,
            timeout_ms=30000,
        )
    else:
        # the calling leg answers, sends no fax and hangs up after 2 s
        await controller.ami.originate(
            receiver,
            application="Wait",
            data="2",
            variables=variables,
            caller_id=SENDER_CID,
            timeout_ms=30000,
        )
    await until(
        lambda: controller.agi.handled > handled, timeout=150, what="the fax route to finish the call"
    )


@pytest.mark.parametrize("tiff_to_send", ["group3", "group4"], indirect=True)
async def test_fax_to_email_did_receives_two_page_fax_stores_pdf_and_emails_it(
    controller, factory, settings, smtp_server, tiff_to_send
):
    did, account_id, did_id = make_fax_did(factory, settings, email="fax.member@example.com")
    sent = AmiRecorder(controller.ami, "UserEvent")
    try:
        await run_fax_call(controller, did, send_file=tiff_to_send[0])
        sender = await sent.wait_for(30, UserEvent="VoipFaxSent")
    finally:
        sent.close()
    assert sender.get("Status") == "SUCCESS", sender

    [fax] = faxes_of(factory, account_id)
    assert fax.status == "received", fax.error
    assert fax.did_id == did_id and fax.error == ""
    assert fax.pages == 2
    assert fax.pdf.startswith(b"%PDF") and pdf_page_count(fax.pdf) == 2
    assert fax.bytes == len(fax.pdf) > 0
    assert fax.resolution == "204x196"
    assert int(fax.transfer_rate) in (2400, 4800, 7200, 9600, 12000, 14400)
    assert fax.caller_number == "14155550100"
    assert fax.remote_station_id == "+1 415 555 0100"  # the sender's TSI
    assert fax.received_at is not None
    assert fax.emailed_at is not None and fax.emailed_to == "fax.member@example.com"
    # the spool copy is gone once the PDF is in the database
    assert not list(Path(settings.fax_local_dir).glob(f"fax-{did}-*.tif"))

    [mail] = await smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["fax.member@example.com"]
    assert did in mail.message["Subject"] and "2 pages" in mail.message["Subject"]
    [(filename, content, mimetype)] = mail.attachments()
    assert mimetype == "application/pdf" and filename.endswith(".pdf")
    assert content == fax.pdf


async def test_pstn_call_to_a_fax_did_goes_through_route_inbound_to_fax_to_email(
    controller, factory, settings, smtp_server, tiff_to_send
):
    did, account_id, did_id = make_fax_did(factory, settings, email="inbound.fax@example.com")
    await run_fax_call(controller, did, send_file=tiff_to_send[0], via_pstn=True)

    [fax] = faxes_of(factory, account_id)
    assert fax.status == "received", fax.error
    assert fax.did_id == did_id and fax.pages == 2 and pdf_page_count(fax.pdf) == 2
    [mail] = await smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["inbound.fax@example.com"]


async def test_call_that_sends_no_fax_is_stored_as_failed_and_not_emailed(
    controller, factory, settings, smtp_server
):
    did, account_id, _ = make_fax_did(factory, settings)
    await run_fax_call(controller, did, send_file=None)

    [fax] = faxes_of(factory, account_id)
    assert fax.status == "failed"
    # the fax stack's own reason, read from the channel after the caller hung up
    assert "dropped prematurely" in fax.error, fax.error
    assert fax.pages == 0 and fax.pdf is None and fax.emailed_at is None
    assert fax.caller_number == "14155550100"
    assert smtp_server.messages == []


async def test_smtp_server_down_fax_is_still_stored_with_emailed_at_null(
    controller, factory, settings, tiff_to_send
):
    # no smtp_server fixture here: nothing listens on VOIP_SMTP_PORT
    did, account_id, _ = make_fax_did(factory, settings)
    await run_fax_call(controller, did, send_file=tiff_to_send[0])

    [fax] = faxes_of(factory, account_id)
    assert fax.status == "received" and fax.pages == 2 and pdf_page_count(fax.pdf) == 2
    assert fax.emailed_at is None and fax.emailed_to == ""


async def test_fax_route_refuses_a_did_not_connected_to_fax_to_email_and_stores_nothing(controller, factory):
    from sqlalchemy import func

    from tests.support.realparts import unique_number

    def count() -> int:
        with factory() as s:
            return s.scalar(select(func.count(Fax.id)))

    before, failed = count(), controller.agi.failed
    await run_fax_call(controller, unique_number("1415"), send_file=None)
    assert count() == before
    assert controller.agi.failed == failed  # a refusal, not a crash
