"""The help page's "Faxes": the list with every column, the PDF, delete; the account's faxes
are the primary holder's."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from db.models import AuditLog, Fax
from db.session import transaction

from .cdrs import at
from .conftest import csrf_token, flashes, page, sign_in

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _fax(factory, member, **fields) -> int:
    values = {
        "account_id": member.account_id,
        "status": "received",
        "remote_station_id": "+1 415 555 0100",
        "caller_number": "14155550100",
        "pages": 3,
        "bytes": 48213,
        "resolution": "204x196",
        "transfer_rate": "14400",
        "pdf": PDF,
        "received_at": at("2026-03-01 12:00:00"),
        **fields,
    }
    with transaction(factory) as s:
        fax = Fax(**values)
        s.add(fax)
        s.flush()
        return fax.id


def test_faxes_lists_every_column_in_the_members_time_zone(client, make_member, factory):
    member = make_member(time_zone="Europe/Berlin")
    fax_id = _fax(factory, member)
    _fax(
        factory,
        member,
        status="failed",
        error="T.30 timeout",
        pdf=None,
        pages=0,
        bytes=0,
        received_at=at("2026-03-02 12:00:00"),
    )
    other = make_member()
    _fax(factory, other, remote_station_id="SOMEONE ELSE")
    sign_in(client, member)
    html = page(client, "/faxes/")
    for label in ("Remote Station ID", "Pages", "Bytes", "Resolution", "Transfer Rate"):
        assert f'<th scope="col">{label}</th>' in html
    assert '<th scope="col">Date <span class="zone-note">(Europe/Berlin)</span></th>' in html  # issue 16
    assert "2026-03-01 13:00:00" in html and "+1 415 555 0100" in html
    assert "48,213" in html and "204x196" in html and "14,400 bps" in html
    assert f'href="/faxes/{fax_id}/pdf"' in html
    assert "failed" in html and "SOMEONE ELSE" not in html
    assert "Records 1–2 of 2" in html


def test_the_pdf_is_served_inline_as_application_pdf(client, make_member, factory):
    member = make_member(time_zone="UTC")
    fax_id = _fax(factory, member)
    sign_in(client, member)
    response = client.get(f"/faxes/{fax_id}/pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert (
        response.headers["Content-Disposition"] == f'inline; filename="fax-20260301-120000-UTC-{fax_id}.pdf"'
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data == PDF


def test_another_accounts_fax_is_not_found_and_a_fax_without_pdf_has_none(client, make_member, factory):
    owner, stranger = make_member(), make_member()
    fax_id = _fax(factory, owner)
    no_pdf = _fax(factory, owner, pdf=None, status="failed")
    sign_in(client, stranger)
    assert client.get(f"/faxes/{fax_id}/pdf").status_code == 404
    token = csrf_token(client, "/faxes/")
    assert client.post(f"/faxes/{fax_id}/delete", data={"csrf_token": token}).status_code == 404
    sign_in(client, owner)
    assert client.get(f"/faxes/{no_pdf}/pdf").status_code == 404
    with transaction(factory) as s:
        assert s.get(Fax, fax_id) is not None


def test_a_secondary_user_sees_no_account_fax_and_may_not_open_one(
    client, make_member, make_secondary, factory
):
    member = make_member()
    second = make_secondary(member)
    fax_id = _fax(factory, member)
    sign_in(client, second)
    html = page(client, "/faxes/")
    assert "only the primary account holder sees them" in html and f"/faxes/{fax_id}/pdf" not in html
    assert client.get(f"/faxes/{fax_id}/pdf").status_code == 403


def test_delete_removes_the_fax_and_leaves_an_audit_row(client, make_member, factory):
    member = make_member(time_zone="UTC")
    fax_id = _fax(factory, member)
    sign_in(client, member)
    html = page(client, "/faxes/")
    token = re.search(
        rf'action="/faxes/{fax_id}/delete".*?name="csrf_token" value="([^"]+)"', html, re.S
    ).group(1)
    response = client.post(f"/faxes/{fax_id}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    assert "The fax received 2026-03-01 12:00:00 was deleted." in [
        unescape(f) for f in flashes(client.get("/faxes/"))
    ]
    with transaction(factory) as s:
        assert s.get(Fax, fax_id) is None
        assert (
            s.scalar(
                select(AuditLog).where(AuditLog.action == "fax.delete", AuditLog.object_id == str(fax_id))
            )
            is not None
        )


def test_delete_without_the_csrf_token_changes_nothing(client, make_member, factory):
    member = make_member()
    fax_id = _fax(factory, member)
    sign_in(client, member)
    response = client.post(f"/faxes/{fax_id}/delete", data={})
    assert response.status_code == 400
    with transaction(factory) as s:
        assert s.get(Fax, fax_id) is not None


def test_a_broken_page_number_is_a_bad_request(client, make_member):
    sign_in(client, make_member())
    assert client.get("/faxes/?page=-3").status_code == 400
    assert client.get("/faxes/?page=last").status_code == 200
