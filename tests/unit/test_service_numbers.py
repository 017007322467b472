"""Service numbers as a member dials them: classified as SERVICE (free, inside, allowed without
LD rights) in every form a phone sends them, whatever they would be to the PSTN; the rows an
install's settings seed; which dialplan targets a row may name."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.rules import service_numbers as rules
from controller.rules.decisions import Permissions, may_call
from controller.rules.numbers import DialClass, classify

CALLER = "13125550101"
CONFERENCE, CARD = "16465550150", "18665550100"  # a New York number, a toll-free one
SERVICES = {CONFERENCE: "incoming,16465550150,1", CARD: "incoming,18665550100,1", "611": "admin-help,s,1"}


def c(raw, services=SERVICES):
    return classify(raw, caller_number=CALLER, is_on_net={"17005550102"}, is_service=services)


@pytest.mark.parametrize(
    "raw, digits",
    [
        ("16465550150", CONFERENCE),
        ("6465550150", CONFERENCE),  # without the 1
        ("+1 (646) 555-0150", CONFERENCE),
        ("1-866-555-0100", CARD),
        ("8665550100", CARD),
        ("611", "611"),  # a short code the operator defined
    ],
)
def test_a_service_number_is_a_service_call_in_every_form_it_is_dialled(raw, digits):
    d = c(raw)
    assert (d.dial_class, d.digits, d.e164) == (DialClass.SERVICE, digits, digits)
    assert not d.billable
    # no long distance right needed: it never leaves the platform
    assert may_call(Permissions(allow_us_canada_ld=False, allow_international_ld=False), d).allowed


def test_without_the_service_numbers_they_are_what_the_pstn_makes_of_them():
    assert c(CONFERENCE, services={}).dial_class is DialClass.DOMESTIC
    assert c(CARD, services={}).dial_class is DialClass.TOLL_FREE
    assert c("611", services={}).dial_class is DialClass.INVALID


def test_911_and_other_numbers_are_unchanged():
    assert c("911", services={"911": "incoming,911,1"}).dial_class is DialClass.EMERGENCY
    assert c("17005550102").dial_class is DialClass.ON_NET
    assert c("12125550100").dial_class is DialClass.DOMESTIC


def test_the_settings_seed_one_row_per_number_to_its_own_entry_in_incoming():
    seeds = rules.from_settings(
        conference_numbers="16465550150, 16465550151",
        conference_tollfree_numbers="18664487747",
        callingcard_numbers="18665550100,",
        voicemail_numbers="18665550199,16465550150,not-a-number",  # listed twice: kept once
    )
    assert [(s.number, s.service, s.target) for s in seeds] == [
        ("16465550150", "conference", "incoming,16465550150,1"),
        ("16465550151", "conference", "incoming,16465550151,1"),
        ("18664487747", "conference", "incoming,18664487747,1"),
        ("18665550100", "calling_card", "incoming,18665550100,1"),
        ("18665550199", "voicemail", "incoming,18665550199,1"),
    ]
    assert all(s.description and len(s.description) <= rules.MAX_DESCRIPTION for s in seeds)


@pytest.mark.parametrize(
    "target, ok",
    [
        ("incoming,16465550150,1", True),
        ("admin-echo,s,1", True),
        ("admin-ivr,*43,2", True),
        ("dial-out,dial,1", False),  # carries out the controller's decisions: never a target
        ("billed-out,12125550100,1", False),
        ("sim-pstn,12125550100,1", False),
        ("members,12125550100,1", False),
        ("incoming,16465550150", False),
        ("incoming,1646&PJSIP/evil,1", False),
        ("incoming,_X.,1", False),
        ("admin-echo,s,1)", False),
        ("", False),
    ],
)
def test_which_dialplan_targets_a_service_number_may_name(target, ok):
    assert rules.valid_target(target) is ok


def test_the_migrations_check_is_the_rules_target_pattern():
    """Migration 0013 writes the pattern out (a migration never changes): it must be the rule's."""
    migration = Path(rules.__file__).parents[2] / "db/migrations/versions/0013_service_numbers.py"
    text = migration.read_text()
    assert f"\"target ~ '{rules.TARGET_PATTERN}'\"" in text
    assert f"number ~ '{rules.NUMBER.pattern}'" in text
