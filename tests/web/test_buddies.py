"""The help page's "Buddy List": add, edit, delete; each user's own."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import Buddy
from db.session import transaction

from .conftest import errors_in, page, post_form, sign_in


def _buddies(factory, user_id) -> list[Buddy]:
    with factory() as s:
        return list(s.scalars(select(Buddy).where(Buddy.user_id == user_id).order_by(Buddy.id)))


def _add(factory, user_id, name="Grace", virtual_number="17005550999", pstn_phone="") -> int:
    with transaction(factory) as s:
        buddy = Buddy(user_id=user_id, name=name, virtual_number=virtual_number, pstn_phone=pstn_phone)
        s.add(buddy)
        s.flush()
        return buddy.id


def test_add_a_buddy_and_see_it_in_the_list_and_the_navigation(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    form = page(client, "/buddies/add")
    for label in ("Name", "Virtual Number", "PSTN Phone", "Save", "Close"):
        assert label in form
    response = post_form(
        client,
        "/buddies/add",
        {"name": "Grace Hopper", "virtual_number": "17005550999", "pstn_phone": "+1 (212) 555-0100"},
    )
    assert response.status_code == 302
    [buddy] = _buddies(factory, member.user_id)
    assert (buddy.name, buddy.virtual_number, buddy.pstn_phone) == (
        "Grace Hopper",
        "17005550999",
        "+12125550100",
    )
    html = page(client, "/buddies/")
    for label in ("Name", "Virtual Number", "Secondary Number", "Action", "Add", "Close"):
        assert label in html
    assert "Grace Hopper" in html and "+12125550100" in html
    assert 'class="buddy-sidebar"' in html  # on the left navigation bar too


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "", "virtual_number": "17005550999"}, "Enter your contact's name."),
        ({"name": "Nobody"}, "Enter a virtual number, a PSTN phone, or both."),
        ({"name": "Bad", "virtual_number": "12ab"}, "A virtual number is 4 to 15 digits."),
        ({"name": "Bad", "pstn_phone": "call me maybe"}, "Enter the PSTN phone as you would dial it"),
        ({"name": "x" * 121, "virtual_number": "17005550999"}, "Field cannot be longer than 120 characters."),
    ],
)
def test_bad_buddy_is_refused_with_a_message_and_adds_nothing(client, make_member, factory, data, message):
    member = make_member()
    sign_in(client, member)
    response = post_form(client, "/buddies/add", data)
    assert response.status_code == 400
    assert any(message in e for e in errors_in(response)), errors_in(response)
    assert _buddies(factory, member.user_id) == []


def test_edit_and_delete_a_buddy(client, make_member, factory):
    member = make_member()
    buddy_id = _add(factory, member.user_id)
    sign_in(client, member)
    assert 'value="Grace"' in page(client, f"/buddies/{buddy_id}/edit")
    response = post_form(
        client,
        f"/buddies/{buddy_id}/edit",
        {"name": "Grace B. Hopper", "virtual_number": "", "pstn_phone": "212-555-0101"},
    )
    assert response.status_code == 302
    [buddy] = _buddies(factory, member.user_id)
    assert (buddy.name, buddy.virtual_number, buddy.pstn_phone) == ("Grace B. Hopper", "", "2125550101")
    bad = post_form(client, f"/buddies/{buddy_id}/edit", {"name": "", "virtual_number": "1"})
    assert bad.status_code == 400 and _buddies(factory, member.user_id)[0].name == "Grace B. Hopper"
    assert post_form(client, f"/buddies/{buddy_id}/delete", {}).status_code == 302
    assert _buddies(factory, member.user_id) == []


def test_buddies_are_per_user_even_within_one_account(client, make_member, make_secondary, factory):
    member = make_member()
    second = make_secondary(member)
    buddy_id = _add(factory, member.user_id, name="Primary's friend")
    sign_in(client, second)
    assert "Primary&#39;s friend" not in page(client, "/buddies/")
    assert client.get(f"/buddies/{buddy_id}/edit").status_code == 404
    assert (
        post_form(
            client, f"/buddies/{buddy_id}/edit", {"name": "Hijacked", "virtual_number": "1234"}
        ).status_code
        == 404
    )
    assert post_form(client, f"/buddies/{buddy_id}/delete", {}).status_code == 404
    assert [b.name for b in _buddies(factory, member.user_id)] == ["Primary's friend"]
