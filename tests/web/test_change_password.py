"""The help page's "Change Password": old, new, retype; strength rules; other sessions end."""

from __future__ import annotations

import pytest

from controller.rules import secrets as sec
from db.models import User

from .conftest import PASSWORD, errors_in, log_in, page, post_form, sign_in

NEW = "Fresh-Start-2027"


def _user(factory, user_id) -> User:
    with factory() as s:
        return s.get(User, user_id)


def test_change_password_keeps_this_session_and_ends_the_others(app, make_member, factory):
    member = make_member()
    here, elsewhere = app.test_client(), app.test_client()
    log_in(here, member.login, member.password)
    log_in(elsewhere, member.login, member.password)
    html = page(here, "/password/")
    for label in ("Old Password:", "New Password:", "Retype for verification:", "Submit"):
        assert label in html
    response = post_form(here, "/password/", {"old_password": PASSWORD, "new_password": NEW, "retype": NEW})
    assert response.status_code == 302
    user = _user(factory, member.user_id)
    assert sec.verify_password(user.password_hash, NEW) and user.session_version == 1
    assert "Your password was changed." in page(here, "/password/")  # still logged in here
    assert elsewhere.get("/").status_code == 302  # logged out there
    assert log_in(elsewhere, member.login, NEW).status_code == 302


@pytest.mark.parametrize(
    "new, retype, message",
    [
        ("Short-1", "Short-1", "A password has at least 10 characters."),
        ("12345678901", "12345678901", "A password cannot be all digits; mix in letters or symbols."),
        ("abcdefghijkl", "abcdefghijkl", "A password cannot be all letters; mix in digits or symbols."),
        ("x{login}x", "x{login}x", "A password cannot contain your login (your virtual number)."),
        (NEW, NEW + "!", "The new password and its retype do not match."),
        (PASSWORD, PASSWORD, "The new password must differ from the old one."),
    ],
)
def test_weak_or_mismatched_new_password_is_refused_and_changes_nothing(
    app, make_member, factory, new, retype, message
):
    member = make_member()
    client = app.test_client()
    sign_in(client, member)
    new, retype = new.format(login=member.login), retype.format(login=member.login)
    response = post_form(
        client, "/password/", {"old_password": PASSWORD, "new_password": new, "retype": retype}
    )
    assert response.status_code == 400
    assert message in errors_in(response), errors_in(response)
    user = _user(factory, member.user_id)
    assert sec.verify_password(user.password_hash, PASSWORD) and user.session_version == 0


def test_wrong_old_password_is_refused_and_repeated_guesses_are_stopped(app, make_member, factory):
    member = make_member()
    client = app.test_client()
    sign_in(client, member)
    for _ in range(5):
        response = post_form(
            client, "/password/", {"old_password": "Not-The-Old-1", "new_password": NEW, "retype": NEW}
        )
        assert "Your old password is not correct." in errors_in(response)
    # the sixth attempt is refused even with the right old password
    response = post_form(client, "/password/", {"old_password": PASSWORD, "new_password": NEW, "retype": NEW})
    assert any("Too many wrong old passwords" in e for e in errors_in(response))
    assert sec.verify_password(_user(factory, member.user_id).password_hash, PASSWORD)
