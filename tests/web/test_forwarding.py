"""The help page's "Advanced Forwarding Option": steps 1-3, every number checked the way the
call routes will treat it (controller.rules.numbers.classify + controller.rules.decisions.may_call)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, update

from controller.rules.numbers import DialClass, classify
from db.models import ForwardingRule, RegionalAreaCode, VirtualNumber
from db.session import transaction

from .conftest import errors_in, page, post_form, sign_in

US_NUMBER = "1 (212) 555-0100"  # New York: domestic for a 1-700 virtual number
UK_NUMBER = "011 44 20 7946 0000"  # London, as dialed from North America


def _rule(factory, vn_id: int) -> ForwardingRule:
    with factory() as s:
        return s.get(ForwardingRule, vn_id)


def _allow(factory, vn_id: int, **flags) -> None:
    with transaction(factory) as s:
        s.execute(update(VirtualNumber).where(VirtualNumber.id == vn_id).values(**flags))


# what a browser sends for the one form (every part enabled), before a test's own fields
FORM = {
    "step1": "none",
    "step1_mode": "simultaneous",
    "step1_seconds": "20",
    "step1_numbers": "",
    "device_seconds": "20",
    "no_answer_mode": "simultaneous",
    "no_answer_seconds": "20",
    "no_answer_numbers": "",
    "busy_mode": "simultaneous",
    "busy_seconds": "20",
    "busy_numbers": "",
    "hours_open": "09:00",
    "hours_close": "17:00",
    "after_hours_step1": "voicemail",
    "after_hours_mode": "simultaneous",
    "after_hours_seconds": "20",
    "after_hours_numbers": "",
}


def _step1(client, number, **fields):
    """Step 1 changed on the one form (ring my list by default)."""
    data = {**FORM, "step1": "ring_list", "step1_seconds": "25", "no_special": "y", **fields}
    return post_form(client, f"/forwarding/{number}", data)


def _step2(client, number, **fields):
    """Step 2 changed on the one form (step 1 "no special forwarding", so step 2 applies)."""
    data = {
        **FORM,
        "no_answer_mode": "sequential",
        "no_answer_seconds": "15",
        "busy_seconds": "30",
        **fields,
    }
    return post_form(client, f"/forwarding/{number}", data)


def test_forwarding_page_shows_steps_one_to_three_as_the_help_page(client, make_member):
    member = make_member()
    sign_in(client, member)
    html = page(client, "/forwarding/")
    for text in (
        "Step 1",
        "Where would you like to send your phone call?",
        "Send immediately to my voice mail",
        "ring my list of numbers for",
        "No special forwarding",
        "Step 2",
        "If your call is not answered, where would you like to send it?",
        "If no answer,",
        "If busy,",
        "No special forwarding.",
        "Step 3",
        "If your call is still not answered, it will go to your voicemail (if it is enabled)",
        "Simultaneously",
        "Sequentially",
        "Save",
    ):
        assert text in html, text
    assert f'action="/forwarding/{member.number}"' in html


def test_step1_ring_list_saves_normalized_digits_that_classify_reads_back(client, make_member, factory):
    member, other = make_member(), make_member()
    _allow(factory, member.virtual_number_id, allow_us_canada_ld=True, allow_international_ld=True)
    sign_in(client, member)
    response = _step1(
        client,
        member.number,
        step1_mode="sequential",
        step1_seconds="45",
        step1_numbers=f"{other.number}\r\n\r\n{US_NUMBER}\r\n{UK_NUMBER}\r\n+33 1 42 68 53 00\r\n{US_NUMBER}",
    )
    assert response.status_code == 302, errors_in(response)
    rule = _rule(factory, member.virtual_number_id)
    assert (rule.step1, rule.step1_mode, rule.step1_seconds) == ("ring_list", "sequential", 45)
    assert rule.step1_numbers == [other.number, "12125550100", "01144" + "2079460000", "01133142685300"]
    # the inbound route classifies what is stored again: same destinations
    classes = [
        classify(n, caller_number=member.number, is_on_net={other.number}).dial_class
        for n in rule.step1_numbers
    ]
    assert classes == [DialClass.ON_NET, DialClass.DOMESTIC, DialClass.INTERNATIONAL, DialClass.INTERNATIONAL]
    html = page(client, f"/forwarding/?number={member.number}")
    assert f"Forwarding of {member.number} was saved." in html
    textarea = re.search(r'<textarea[^>]*name="step1_numbers"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert textarea.split() == rule.step1_numbers  # the page shows what is stored, one per line
    assert re.search(r'<input checked id="step1-1" name="step1"', html)


def test_step1_voicemail_and_no_special_forwarding_with_device_seconds(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    assert _step1(client, member.number, step1="voicemail").status_code == 302
    assert _rule(factory, member.virtual_number_id).step1 == "voicemail"
    assert _step1(client, member.number, step1="none", device_seconds="12").status_code == 302
    rule = _rule(factory, member.virtual_number_id)
    assert (rule.step1, rule.device_seconds) == ("none", 12)


@pytest.mark.parametrize(
    "numbers, message",
    [
        (
            US_NUMBER,
            "Line 1 (1 (212) 555-0100): Calls to the continental US and Canada are not allowed "
            "on this number (Allow Continental US and Canada LD is off).",
        ),
        (
            f"{UK_NUMBER}",
            "Line 1 (011 44 20 7946 0000): International calls are not allowed on this "
            "number (Allow International LD is off).",
        ),
        ("18005551212\n911", "Line 2 (911): 911 cannot be a forwarding number"),
        ("hello", "Line 1 (hello): Not a number we can dial (not a phone number)."),
        ("12345", "Line 1 (12345): Not a number we can dial"),
        ("", "Enter at least one phone number (one per line)."),
        (
            "\n".join(f"1800555{1000 + i}" for i in range(11)),
            "Enter at most 10 numbers (one per line); this list has 11.",
        ),
    ],
)
def test_step1_refuses_a_number_the_member_may_not_call_naming_the_line(
    client, make_member, factory, numbers, message
):
    member = make_member()
    sign_in(client, member)
    before = _rule(factory, member.virtual_number_id)
    response = _step1(client, member.number, step1_numbers=numbers)
    assert response.status_code == 400
    assert any(message in e for e in errors_in(response)), errors_in(response)
    after = _rule(factory, member.virtual_number_id)
    assert (after.step1, after.step1_numbers) == (before.step1, before.step1_numbers) == ("none", [])


def test_the_number_itself_in_a_list_rings_its_own_phones(client, make_member, factory):
    """Issue 16: "ring my phone and my cell together" is a list holding the number itself; the
    call rings its devices (agi/inbound.py _target: an on-net number's Devices, no loop)."""
    member = make_member()
    sign_in(client, member)
    response = _step1(client, member.number, step1_numbers=member.number)
    assert response.status_code == 302, errors_in(response)
    assert _rule(factory, member.virtual_number_id).step1_numbers == [member.number]
    from agi.contacts import Devices
    from agi.inbound import _target

    assert _target(member.number, member.number, {member.number}) == Devices(member.number)


def test_regional_area_codes_count_as_regional_without_ld(client, make_member, factory):
    member = make_member()  # 1-700-... numbers: area code 700
    with transaction(factory) as s:
        s.merge(RegionalAreaCode(area_code="700", regional_area_code="212"))
    try:
        sign_in(client, member)
        assert _step1(client, member.number, step1_numbers=US_NUMBER).status_code == 302
        assert _rule(factory, member.virtual_number_id).step1_numbers == ["12125550100"]
    finally:
        with transaction(factory) as s:
            s.execute(
                delete(RegionalAreaCode).where(
                    RegionalAreaCode.area_code == "700", RegionalAreaCode.regional_area_code == "212"
                )
            )


@pytest.mark.parametrize("seconds", ["0", "100", "abc", ""])
def test_ring_seconds_must_be_1_to_99(client, make_member, factory, seconds):
    member = make_member()
    sign_in(client, member)
    response = _step1(client, member.number, step1_seconds=seconds, step1_numbers="18005551212")
    assert response.status_code == 400
    assert "Enter a number of seconds from 1 to 99." in errors_in(response)
    assert _rule(factory, member.virtual_number_id).step1 == "none"


def test_step2_saves_no_answer_and_busy_lists(client, make_member, make_secondary, factory):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, member)
    response = _step2(
        client,
        member.number,
        no_answer_enabled="y",
        no_answer_numbers=second.number,
        busy_enabled="y",
        busy_numbers="1-800-555-1212\n18665550000",
    )
    assert response.status_code == 302, errors_in(response)
    rule = _rule(factory, member.virtual_number_id)
    assert (rule.no_answer_enabled, rule.no_answer_mode, rule.no_answer_seconds, rule.no_answer_numbers) == (
        True,
        "sequential",
        15,
        [second.number],
    )
    assert (rule.busy_enabled, rule.busy_mode, rule.busy_seconds, rule.busy_numbers) == (
        True,
        "simultaneous",
        30,
        ["18005551212", "18665550000"],
    )
    # "No special forwarding." turns both off and keeps the lists for later
    assert _step2(client, member.number, no_special="y", no_answer_numbers=second.number).status_code == 302
    rule = _rule(factory, member.virtual_number_id)
    assert not rule.no_answer_enabled and not rule.busy_enabled


def test_step2_refuses_conflicting_choices_and_bad_numbers_and_changes_nothing(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    both = _step2(client, member.number, no_special="y", busy_enabled="y", busy_numbers="18005551212")
    assert 'Choose "No special forwarding" or the options above it, not both.' in errors_in(both)
    bad = _step2(
        client,
        member.number,
        no_answer_enabled="y",
        no_answer_numbers="18005551212\n911",
        busy_enabled="y",
        busy_numbers="",
    )
    messages = errors_in(bad)
    assert any("Line 2 (911): 911 cannot be a forwarding number" in m for m in messages)
    assert "Enter at least one phone number (one per line)." in messages
    rule = _rule(factory, member.virtual_number_id)
    assert not rule.no_answer_enabled and not rule.busy_enabled and rule.busy_numbers == []


def test_secondary_user_forwards_only_their_own_number(client, make_member, make_secondary, factory):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, second)
    assert second.number in page(client, "/forwarding/")
    assert _step1(client, second.number, step1="voicemail").status_code == 302
    assert _rule(factory, second.virtual_number_id).step1 == "voicemail"
    assert client.get(f"/forwarding/?number={member.number}").status_code == 404
    assert _step1(client, member.number, step1="voicemail").status_code == 404
    assert _rule(factory, member.virtual_number_id).step1 == "none"


def test_primary_holder_picks_any_number_of_the_account(client, make_member, make_secondary, factory):
    member = make_member()
    second = make_secondary(member)
    sign_in(client, member)
    html = page(client, f"/forwarding/?number={second.number}")
    assert f'action="/forwarding/{second.number}"' in html
    assert _step1(client, second.number, step1="voicemail").status_code == 302
    assert _rule(factory, second.virtual_number_id).step1 == "voicemail"
