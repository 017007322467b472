"""An AMI action is headers, one per line: a line break in a name or a value (a channel name
typed into the Live calls form) would end that header and start one of the sender's choosing,
such as a second action. The AMI client refuses such an action before anything is sent."""

from __future__ import annotations

import asyncio

import pytest

from controller.services.ami import AMIError, AMILink, AMISession, one_line
from controller.settings import load

INJECTED = "PJSIP/17005550100-00000001\r\nAction: Originate\r\nChannel: Local/19005550100@fwd-out"


@pytest.mark.parametrize(
    "action",
    [
        {"Action": "Hangup", "Channel": INJECTED},
        {"Action": "Hangup", "Channel": "PJSIP/x\nAction: Command"},
        {"Action": "Hangup", "Channel": "PJSIP/x\rAction: Command"},
        {"Action": "Originate", "Variable": ["A=1", "B=2\r\nAction: Command"]},
        {"Action": "Hangup", "Chan\r\nnel": "x"},
    ],
)
def test_a_line_break_anywhere_in_an_action_is_refused(action):
    with pytest.raises(AMIError, match="one line"):
        one_line(action)
    # by the session the panel opens, and by the controller's link, before any connection
    with pytest.raises(AMIError, match="one line"):
        AMISession(load()).action(action)

    async def link() -> None:
        await AMILink(load(), events=False).action(action)

    with pytest.raises(AMIError, match="one line"):
        asyncio.run(link())


def test_plain_actions_pass():
    one_line({"Action": "Hangup", "Channel": "Local/12125550100@sim-pstn-00000004;2", "Cause": 16})
    one_line({"Action": "Originate", "Variable": ["A=1", "B=x y"], "Timeout": 30000})
