"""The fax pipeline without Asterisk: TIFF -> PDF, reading the fax stack's variables, and
store_and_email against the real PostgreSQL and a real SMTP server."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image, TiffImagePlugin
from sqlalchemy import select

from controller.services.fax import (
    FaxImageError,
    FaxOutcome,
    outcome_from_variables,
    resolution_dpi,
    store_and_email,
    tiff_to_pdf,
)
from db.models import Fax
from db.session import async_session_factory, make_async_engine
from tests.fax.faxes import fax_pages, make_fax_did, pdf_page_count, tiff_f


def media_boxes(pdf: bytes) -> list[tuple[float, float]]:
    """Page sizes in points, to two decimals."""
    return [
        (round(float(w), 2), round(float(h), 2))
        for w, h in re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    ]


@pytest.mark.parametrize("compression", ["group3", "group4"])
def test_tiff_f_pages_become_one_pdf_page_each_at_fax_resolution(compression):
    doc = tiff_to_pdf(tiff_f(3, compression))
    assert doc.pages == 3 and pdf_page_count(doc.pdf) == 3
    assert doc.dpi == (204, 196)
    # a 1728-pixel fax line at 204 dpi is 8.47 in = 609.9 pt wide in the PDF
    assert media_boxes(doc.pdf) == [(609.88, 404.08)] * 3


def test_normal_resolution_page_after_a_fine_one_is_rescaled_not_squashed():
    fine, normal = fax_pages(2)
    normal = normal.resize((normal.width, normal.height // 2))  # same paper at 98 lines/inch
    out = io.BytesIO()
    with TiffImagePlugin.AppendingTiffWriter(out, True) as tf:
        fine.save(tf, format="TIFF", compression="group4", dpi=(204, 196))
        tf.newFrame()
        normal.save(tf, format="TIFF", compression="group4", dpi=(204, 98))
        tf.newFrame()
    assert Image.open(io.BytesIO(out.getvalue())).n_frames == 2
    doc = tiff_to_pdf(out.getvalue())
    assert doc.pages == 2
    # both pages come out the same size on paper: 1100 lines at 196 dpi = 404.08 pt
    assert media_boxes(doc.pdf) == [(609.88, 404.08)] * 2


def test_garbage_is_not_a_fax_image():
    with pytest.raises(FaxImageError):
        tiff_to_pdf(b"not a tiff at all")


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_fax_that_broke_off_during_page_two_keeps_page_one():
    data = tiff_f(2)
    # Pillow writes page 1 and its directory first: cutting into page 2 leaves page 1 whole
    doc = tiff_to_pdf(data[: len(data) * 3 // 4])
    assert doc.pages == 1 and pdf_page_count(doc.pdf) == 1


@pytest.mark.parametrize(
    "raw, dpi",
    [
        ("8031x7700", "204x196"),
        ("8031x3850", "204x98"),
        ("16063x15400", "408x391"),
        ("204x196", "204x196"),
        ("0x0", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_faxresolution_pixels_per_metre_reads_as_dpi(raw, dpi):
    assert resolution_dpi(raw) == dpi


def test_success_variables_make_a_received_outcome():
    o = outcome_from_variables(
        {
            "FAXSTATUS": "SUCCESS",
            "FAXERROR": None,
            "FAXOPT(statusstr)": "OK",
            "FAXPAGES": "2",
            "REMOTESTATIONID": "+1 415 555 0100",
            "FAXRESOLUTION": "8031x7700",
            "FAXBITRATE": "14400",
        },
        "14155550100",
    )
    assert o == FaxOutcome(
        success=True,
        error="",
        remote_station_id="+1 415 555 0100",
        pages=2,
        resolution="204x196",
        transfer_rate="14400",
        caller_number="14155550100",
    )


@pytest.mark.parametrize("mode", ["audio", "T38"])
def test_the_mode_the_fax_came_in_is_kept(mode):
    o = outcome_from_variables({"FAXSTATUS": "SUCCESS", "FAXPAGES": "1", "FAXMODE": mode})
    assert o.success and o.mode == mode
    assert outcome_from_variables({"FAXSTATUS": "SUCCESS", "FAXPAGES": "1"}).mode == ""


@pytest.mark.parametrize(
    "values, reason",
    [
        (
            {
                "FAXSTATUS": "FAILED",
                "FAXERROR": "The call dropped prematurely",
                "FAXOPT(statusstr)": "The call dropped prematurely",
                "FAXPAGES": "0",
                "FAXBITRATE": "14400",
            },
            "The call dropped prematurely",
        ),
        (
            {
                "FAXSTATUS": "FAILED",
                "FAXERROR": "HANGUP",
                "FAXOPT(statusstr)": "Far end cleared",
                "FAXPAGES": "1",
            },
            "HANGUP: Far end cleared",
        ),
        ({}, "no fax status"),
    ],
)
def test_failure_variables_make_a_failed_outcome_with_a_reason(values, reason):
    o = outcome_from_variables(values)
    assert not o.success and o.error.startswith(reason)
    if not o.pages:
        assert o.transfer_rate == ""


@pytest.fixture()
async def adb(database):
    engine = make_async_engine(database)
    yield async_session_factory(engine)
    await engine.dispose()


def row(factory, fax_id: int) -> Fax:
    with factory() as s:
        return s.scalar(select(Fax).where(Fax.id == fax_id))


GOOD = FaxOutcome(
    success=True,
    remote_station_id="ACME FAX",
    pages=2,
    resolution="204x196",
    transfer_rate="9600",
    caller_number="14155550100",
)


async def test_store_and_email_stores_the_pdf_removes_the_tiff_and_mails_it(
    adb, factory, settings, smtp_server, tmp_path
):
    did, account_id, did_id = make_fax_did(factory, settings, email="to@example.com")
    tiff = tmp_path / "in.tif"
    tiff.write_bytes(tiff_f(2))
    stored = await store_and_email(
        adb,
        settings,
        account_id=account_id,
        did_id=did_id,
        did_number=did,
        email="to@example.com",
        outcome=GOOD,
        tiff_path=tiff,
    )
    assert stored.status == "received" and stored.pages == 2 and stored.emailed
    assert not tiff.exists()
    fax = row(factory, stored.id)
    assert fax.remote_station_id == "ACME FAX" and fax.transfer_rate == "9600"
    assert fax.emailed_to == "to@example.com" and fax.emailed_at is not None
    [mail] = await smtp_server.wait_for(1)
    assert mail.message["Subject"] == f"Fax from ACME FAX to {did}: 2 pages"
    assert "Remote station ID: ACME FAX" in mail.message.get_body(("plain",)).get_content()
    [(name, content, mimetype)] = mail.attachments()
    assert content == fax.pdf and mimetype == "application/pdf" and name.startswith(f"fax-{did}-")


async def test_success_reported_without_a_file_is_stored_as_failed(adb, factory, settings, tmp_path):
    did, account_id, did_id = make_fax_did(factory, settings)
    stored = await store_and_email(
        adb,
        settings,
        account_id=account_id,
        did_id=did_id,
        did_number=did,
        email="x@example.com",
        outcome=GOOD,
        tiff_path=tmp_path / "missing.tif",
    )
    fax = row(factory, stored.id)
    assert fax.status == "failed" and "no file" in fax.error and fax.pdf is None
    assert fax.emailed_at is None


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
async def test_unreadable_file_is_stored_as_failed(adb, factory, settings, tmp_path):
    did, account_id, did_id = make_fax_did(factory, settings)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")
    stored = await store_and_email(
        adb,
        settings,
        account_id=account_id,
        did_id=did_id,
        did_number=did,
        email=None,
        outcome=GOOD,
        tiff_path=bad,
    )
    assert row(factory, stored.id).status == "failed" and "unreadable" in stored.error


async def test_broken_off_fax_keeps_its_pages_and_mails_them_as_incomplete(
    adb, factory, settings, smtp_server, tmp_path
):
    did, account_id, did_id = make_fax_did(factory, settings, email="to@example.com")
    tiff = tmp_path / "partial.tif"
    tiff.write_bytes(tiff_f(1))
    outcome = FaxOutcome(success=False, error="HANGUP: Far end cleared", pages=1)
    stored = await store_and_email(
        adb,
        settings,
        account_id=account_id,
        did_id=did_id,
        did_number=did,
        email="to@example.com",
        outcome=outcome,
        tiff_path=tiff,
    )
    fax = row(factory, stored.id)
    assert fax.status == "failed" and fax.pages == 1 and pdf_page_count(fax.pdf) == 1
    [mail] = await smtp_server.wait_for(1)
    assert mail.message["Subject"].startswith("Incomplete fax")
