"""The help page's "Notepad": save, clear, email it to an address (real SMTP on loopback)."""

from __future__ import annotations

from db.models import Note
from tests.support.smtp import smtp_server  # noqa: F401  (function-scoped aiosmtpd on loopback)

from .conftest import errors_in, page, post_form, sign_in


def _note(factory, user_id) -> str | None:
    with factory() as s:
        note = s.get(Note, user_id)
        return note.body if note else None


def test_save_shows_the_note_until_it_is_cleared(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    html = page(client, "/notepad/")
    for label in ("Notepad", "Save", "Clear", "Email it to:", "Send"):
        assert label in html
    response = post_form(client, "/notepad/", {"body": "Call <Bob> back\r\nabout the fax", "save": "Save"})
    assert response.status_code == 302
    assert _note(factory, member.user_id) == "Call <Bob> back\nabout the fax"
    html = page(client, "/notepad/")
    assert "Call &lt;Bob&gt; back" in html and "Your note was saved." in html
    assert post_form(client, "/notepad/", {"body": "ignored", "clear": "Clear"}).status_code == 302
    assert _note(factory, member.user_id) is None


def test_an_oversized_note_is_refused_and_the_saved_one_kept(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    post_form(client, "/notepad/", {"body": "keep me", "save": "Save"})
    response = post_form(client, "/notepad/", {"body": "x" * 20001, "save": "Save"})
    assert response.status_code == 400
    assert "A note has at most 20,000 characters." in errors_in(response)
    assert _note(factory, member.user_id) == "keep me"


def test_email_the_note_to_an_address(client, make_member, smtp_server):  # noqa: F811
    member = make_member()
    sign_in(client, member)
    response = post_form(
        client, "/notepad/", {"body": "Pick up milk", "email_to": "friend@example.com", "send": "Send"}
    )
    assert response.status_code == 302
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["friend@example.com"]
    assert mail.message["Subject"] == f"Note from {member.login}"
    assert mail.message.get_content().strip() == "Pick up milk"
    assert "Your note was sent to friend@example.com." in page(client, "/notepad/")


def test_email_with_a_bad_address_or_an_empty_note_is_refused(client, make_member, smtp_server):  # noqa: F811
    member = make_member()
    sign_in(client, member)
    bad = post_form(client, "/notepad/", {"body": "hello", "email_to": "not-an-address", "send": "Send"})
    assert bad.status_code == 400 and any("Enter a valid email address" in e for e in errors_in(bad))
    missing = post_form(client, "/notepad/", {"body": "hello", "email_to": "", "send": "Send"})
    assert "Enter the email address to send your note to." in errors_in(missing)
    empty = post_form(client, "/notepad/", {"body": "  ", "email_to": "a@example.com", "send": "Send"})
    assert "The note is empty: type your note before sending it." in errors_in(empty)
    assert smtp_server.messages == []


def test_email_when_the_mail_server_is_down_says_so_and_keeps_the_text(client, make_member):
    member = make_member()  # no smtp_server fixture: nothing listens on the SMTP port
    sign_in(client, member)
    response = post_form(
        client, "/notepad/", {"body": "still here", "email_to": "a@example.com", "send": "Send"}
    )
    assert response.status_code == 400
    assert any("could not be sent right now" in e for e in errors_in(response))
    assert "still here" in response.get_data(as_text=True)
