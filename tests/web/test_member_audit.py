"""Issue 16: the audit log names who made every change a member makes to their own account,
and from which address. Each write below goes through the panel as a browser would; every
audit row it leaves for the account must carry the member's user id and the client's address
(the log used to show "—" for a member's own SIP password, PIN, VM password, options and new
numbers: the services were called without them)."""

from __future__ import annotations

from sqlalchemy import select

from controller.services.voicemail import mwi, service
from db.models import AuditLog, Did
from db.session import transaction
from tests.support.realparts import unique_number
from tests.voicemail.helpers import wav

from .conftest import errors_in, post_form, sign_in
from .test_dids import US_ADDRESS


def _rows_after(factory, account_id: int, after_id: int) -> list[AuditLog]:
    with factory() as s:
        return list(
            s.scalars(
                select(AuditLog)
                .where(AuditLog.account_id == account_id, AuditLog.id > after_id)
                .order_by(AuditLog.id)
            )
        )


def _last_id(factory) -> int:
    with factory() as s:
        return s.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1)) or 0


def test_every_member_write_is_audited_with_actor_and_address(client, make_member, factory):
    member = make_member()
    address = client.environ_base["REMOTE_ADDR"]
    with transaction(factory) as s:
        did = Did(
            account_id=member.account_id,
            number=unique_number("1555"),
            connection="virtual_number",
            virtual_number_id=member.virtual_number_id,
        )
        s.add(did)
        s.flush()
        did_id = did.id
        message_id = service.store_message(
            s,
            member.virtual_number_id,
            audio=wav(1.0, 440),
            duration_seconds=1.0,
            caller_name="Caller",
            caller_number="13125550000",
            notify=mwi.queue_mwi,
        )
    sign_in(client, member)
    vn = f"/virtual-number/{member.number}"
    writes = [
        (f"{vn}/vm-password", {"vm_password": "246810", "vm_password_confirm": "246810"}, "vm_password"),
        (
            f"{vn}/sip-password",
            {
                "sip_password": "Chosen-Sip-2026",
                "sip_password_confirm": "Chosen-Sip-2026",
                "set_password": "Set SIP Password",
            },
            "sip_password",
        ),
        (f"{vn}/pin", {"pin": "730518", "pin_confirm": "730518"}, "pin"),
        (f"{vn}/options", {"voicemail_enabled": "y", "white_pages": "y"}, "options"),
        (f"{vn}/sip-allowlist", {"sip_allowlist": "192.0.2.1"}, "allowlist"),
        ("/virtual-number/add", {"new_number": unique_number(), "new_name": "Kitchen"}, "virtual_number.add"),
        (
            "/account/",
            {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "country": "US",
                "time_zone": "America/Chicago",
                "language": "en",
                "email": "ada@example.com",
            },
            "account.update",
        ),
        (f"/dids/{did_id}/911", US_ADDRESS, "911"),
        (f"/dids/{did_id}", {"connected_to": "fax_to_email", "fax_email": "faxes@example.com"}, "did"),
        (f"/voicemail/messages/{message_id}/delete", {}, "voicemail.delete"),
        # reviewer R-FORMS: the member's other settings pages write audited rows too
        ("/notifications/", {"missed_call": "y", "threshold": ""}, "notifications.update"),
        ("/limits/", {"daily_cap": "12.50", "intl_daily_cap": "3", "countries": ""}, "limits.member_update"),
        ("/webhooks/threshold", {"threshold": "5"}, "account.low_balance_threshold"),
    ]
    for url, data, expect in writes:
        before = _last_id(factory)
        response = post_form(client, url, data)
        assert response.status_code in (200, 302), (url, response.status_code, errors_in(response))
        rows = _rows_after(factory, member.account_id, before)
        assert rows, f"{url} left no audit row"
        assert any(expect in row.action for row in rows), (url, [r.action for r in rows])
        for row in rows:
            assert (row.action, row.actor_user_id, row.remote_addr) == (
                row.action,
                member.user_id,
                address,
            ), url
