"""The forwarding plan, every branch: step 1 voicemail / list / none, step 2 no-answer list /
busy list / none, step 3 voicemail on / off."""

from __future__ import annotations

import pytest

from controller.rules.forwarding import (
    ForwardingSettings,
    Outcome,
    Plan,
    Ring,
    RingList,
    RingMode,
    dial_status_outcome,
)

A = RingList(("13125550111",), RingMode.SIMULTANEOUS, 10)
B = RingList(("13125550122", "13125550133"), RingMode.SEQUENTIAL, 15)


def walk(settings, outcomes):
    plan = Plan(settings)
    steps = [plan.first()]
    for o in outcomes:
        if not isinstance(steps[-1], Ring):
            break
        steps.append(plan.after(o))
    return steps


@pytest.mark.parametrize("vm, final", [(True, "voicemail"), (False, ("hangup", 19))])
def test_step1_voicemail_goes_straight_to_step3(vm, final):
    assert walk(ForwardingSettings(step1="voicemail", voicemail_enabled=vm), []) == [final]


@pytest.mark.parametrize(
    "outcome, vm, final",
    [
        (Outcome.NOANSWER, True, "voicemail"),
        (Outcome.BUSY, True, "voicemail"),
        (Outcome.NOANSWER, False, ("hangup", 19)),
        (Outcome.BUSY, False, ("hangup", 17)),
        (Outcome.ANSWER, True, None),
    ],
)
def test_step1_ring_list_then_step3(outcome, vm, final):
    s = ForwardingSettings(
        step1="ring_list", step1_list=B, voicemail_enabled=vm, no_answer_list=A, busy_list=A
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
        (Outcome.NOANSWER, None, B, True, "voicemail"),
        (Outcome.BUSY, A, None, True, "voicemail"),
        (Outcome.NOANSWER, None, None, False, ("hangup", 19)),
        (Outcome.BUSY, None, None, False, ("hangup", 17)),
    ],
)
def test_no_special_forwarding_rings_the_device_then_step2(device, no_answer, busy, vm, expected):
    s = ForwardingSettings(
        step1="none", device_seconds=25, no_answer_list=no_answer, busy_list=busy, voicemail_enabled=vm
    )
    steps = walk(s, [device])
    assert steps[0] == Ring((), RingMode.SIMULTANEOUS, 25, device=True)
    assert steps[1] == expected


@pytest.mark.parametrize(
    "second, vm, final",
    [
        (Outcome.NOANSWER, True, "voicemail"),
        (Outcome.BUSY, False, ("hangup", 17)),
        (Outcome.ANSWER, True, None),
    ],
)
def test_step2_list_then_step3(second, vm, final):
    s = ForwardingSettings(step1="none", no_answer_list=A, voicemail_enabled=vm)
    assert walk(s, [Outcome.NOANSWER, second])[2] == final


def test_ring_list_step_with_an_empty_list_falls_back_to_the_device():
    assert walk(ForwardingSettings(step1="ring_list", step1_list=None), [])[0].device


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
