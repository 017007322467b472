"""The forwarding plan, every branch: step 1 voicemail / list / none, step 2 no-answer list /
busy list / none, step 3 voicemail on / off."""

from __future__ import annotations

import pytest

from controller.rules.forwarding import (
    VOICEMAIL,
    ForwardingSettings,
    Hangup,
    HangupCause,
    Outcome,
    Plan,
    Ring,
    RingList,
    RingMode,
    Step1,
    dial_status_outcome,
)
from db.models import RING_MODES, STEP1

A = RingList(("13125550111",), RingMode.SIMULTANEOUS, 10)
B = RingList(("13125550122", "13125550133"), RingMode.SEQUENTIAL, 15)


NO_ANSWER = Hangup(HangupCause.NO_ANSWER)  # Q.850 19
USER_BUSY = Hangup(HangupCause.USER_BUSY)  # Q.850 17


def walk(settings, outcomes):
    plan = Plan(settings)
    steps = [plan.first()]
    for o in outcomes:
        if not isinstance(steps[-1], Ring):
            break
        steps.append(plan.after(o))
    return steps


@pytest.mark.parametrize("vm, final", [(True, VOICEMAIL), (False, NO_ANSWER)])
def test_step1_voicemail_goes_straight_to_step3(vm, final):
    assert walk(ForwardingSettings(step1=Step1.VOICEMAIL, voicemail_enabled=vm), []) == [final]


@pytest.mark.parametrize(
    "outcome, vm, final",
    [
        (Outcome.NOANSWER, True, VOICEMAIL),
        (Outcome.BUSY, True, VOICEMAIL),
        (Outcome.NOANSWER, False, NO_ANSWER),
        (Outcome.BUSY, False, USER_BUSY),
        (Outcome.ANSWER, True, None),
    ],
)
def test_step1_ring_list_then_step3(outcome, vm, final):
    s = ForwardingSettings(
        step1=Step1.RING_LIST, step1_list=B, voicemail_enabled=vm, no_answer_list=A, busy_list=A
    )  # step 2 lists are ignored after a list
    steps = walk(s, [outcome])
    assert steps[0] == Ring(B.numbers, RingMode.SEQUENTIAL, 15)
    assert steps[1] == final


@pytest.mark.parametrize(
    "device, no_answer, busy, vm, expected",
    [
        (Outcome.ANSWER, A, B, True, None),
        (Outcome.NOANSWER, A, B, True, Ring(A.numbers, A.mode, A.seconds)),
        (Outcome.BUSY, A, B, True, Ring(B.numbers, B.mode, B.seconds)),
        (Outcome.NOANSWER, None, B, True, VOICEMAIL),
        (Outcome.BUSY, A, None, True, VOICEMAIL),
        (Outcome.NOANSWER, None, None, False, NO_ANSWER),
        (Outcome.BUSY, None, None, False, USER_BUSY),
    ],
)
def test_no_special_forwarding_rings_the_device_then_step2(device, no_answer, busy, vm, expected):
    s = ForwardingSettings(
        step1=Step1.NONE, device_seconds=25, no_answer_list=no_answer, busy_list=busy, voicemail_enabled=vm
    )
    steps = walk(s, [device])
    assert steps[0] == Ring((), RingMode.SIMULTANEOUS, 25, device=True)
    assert steps[1] == expected


@pytest.mark.parametrize(
    "second, vm, final",
    [
        (Outcome.NOANSWER, True, VOICEMAIL),
        (Outcome.BUSY, False, USER_BUSY),
        (Outcome.ANSWER, True, None),
    ],
)
def test_step2_list_then_step3(second, vm, final):
    s = ForwardingSettings(step1=Step1.NONE, no_answer_list=A, voicemail_enabled=vm)
    assert walk(s, [Outcome.NOANSWER, second])[2] == final


def test_ring_list_step_with_an_empty_list_falls_back_to_the_device():
    assert walk(ForwardingSettings(step1=Step1.RING_LIST, step1_list=None), [])[0].device


@pytest.mark.parametrize(
    "status, outcome",
    [
        ("ANSWER", Outcome.ANSWER),
        ("BUSY", Outcome.BUSY),
        ("NOANSWER", Outcome.NOANSWER),
        ("CHANUNAVAIL", Outcome.NOANSWER),
        ("CONGESTION", Outcome.NOANSWER),
        ("", Outcome.NOANSWER),
    ],
)
def test_dialstatus_folding(status, outcome):
    assert dial_status_outcome(status) is outcome


def test_the_hangup_causes_are_q850_user_busy_and_no_answer():
    assert (HangupCause.USER_BUSY, HangupCause.NO_ANSWER) == (17, 19)
    assert str(HangupCause.NO_ANSWER) == "19"  # what Hangup() is given on the channel


def test_the_enums_hold_the_values_stored_in_forwarding_rules():
    assert tuple(s.value for s in Step1) == STEP1
    assert tuple(m.value for m in RingMode) == RING_MODES
