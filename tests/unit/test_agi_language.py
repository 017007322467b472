"""The member's prompt language on the AGI side: a refusal that names it sets CHANNEL(language)
with the refusal in one MSet; a value that is not a language code never reaches the channel."""

from __future__ import annotations

import pytest

from agi.errors import CallRefused
from controller.rules import channel_vars as cv
from tests.unit.test_agi_protocol import headers, session, start


def refusing(language):
    async def route(channel, deps) -> None:
        raise CallRefused("not_permitted_international", "test", language)

    return route


async def test_refusal_in_the_members_language_is_one_mset():
    server, port = await start({"r": refusing("es")})
    fake = await session(port, headers("r"))
    assert fake.commands == [
        'EXEC "MSet" "CHANNEL(language)=es,VOIP_REFUSE=not_permitted_international,VOIP_DECISION=refuse"'
    ]
    await server.stop()


@pytest.mark.parametrize("bad", ["", None, "es,VOIP_DECISION=dial", "../../etc", "ES", "e"])
async def test_a_value_that_is_not_a_language_code_is_not_set(bad):
    server, port = await start({"r": refusing(bad)})
    fake = await session(port, headers("r"))
    assert fake.commands == [
        'SET VARIABLE "VOIP_REFUSE" "not_permitted_international"',
        'SET VARIABLE "VOIP_DECISION" "refuse"',
    ]
    await server.stop()


@pytest.mark.parametrize(
    "code, ok",
    [
        ("en", True),
        ("es", True),
        ("fr", True),
        ("es_MX", True),
        ("fr_CA", True),
        ("", False),
        ("EN", False),
        ("es-MX", False),
        ("es,x", False),
        ("english", False),
    ],
)
def test_prompt_language(code, ok):
    assert (cv.prompt_language(code) == code) is ok
