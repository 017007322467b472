"""The FastAGI layer against a protocol-level fake of Asterisk: garbage, unknown routes,
hang-ups mid-dialog and injection attempts end cleanly and the server keeps serving."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.channel import Channel, parse_result, quote
from agi.errors import AGIError, AGIHangup, CallRefused
from agi.server import FastAGIServer


def headers(route: str, **extra: str) -> bytes:
    h = {
        "agi_network": "yes",
        "agi_network_script": route,
        "agi_request": f"agi://127.0.0.1/{route}",
        "agi_channel": "PJSIP/17005550101-00000001",
        "agi_uniqueid": "1700000000.1",
        "agi_callerid": "17005550101",
        "agi_extension": "15551234567",
        **extra,
    }
    return "".join(f"{k}: {v}\n" for k, v in h.items()).encode() + b"\n"


class FakeAsterisk:
    """Plays Asterisk's side of one FastAGI session."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.commands: list[str] = []

    async def serve(self, answer=lambda cmd: "200 result=1") -> None:
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 5)
            if not line:
                return
            cmd = line.decode().rstrip("\n")
            self.commands.append(cmd)
            reply = answer(cmd)
            if reply is None:
                self.writer.close()
                return
            self.writer.write(reply.encode() + b"\n")
            await self.writer.drain()


async def start(routes):
    server = FastAGIServer(routes, command_timeout=5)
    await server.start("127.0.0.1", 0)
    port = server._server.sockets[0].getsockname()[1]
    return server, port


async def session(port, data: bytes, answer=lambda cmd: "200 result=1"):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    fake = FakeAsterisk(reader, writer)
    await fake.serve(answer)
    return fake


async def route_sets(channel: Channel, deps) -> None:
    value = channel.headers.get("agi_arg_1", "x")
    await channel.set_variable("RESULT", value)


async def route_refuses(channel: Channel, deps) -> None:
    raise CallRefused("not_permitted_international", "test")


async def route_reads_twice(channel: Channel, deps) -> None:
    await channel.get_variable("A")
    await channel.get_variable("B")


async def test_route_runs_and_sets_variable_quoted():
    server, port = await start({"set": route_sets})
    fake = await session(port, headers("set", agi_arg_1='a "quoted" value'))
    assert fake.commands == ['SET VARIABLE "RESULT" "a \\"quoted\\" value"']
    await server.stop()


async def test_unknown_route_is_refused_and_socket_closed():
    server, port = await start({"set": route_sets})
    fake = await session(port, headers("no-such-route"))
    assert fake.commands == ['SET VARIABLE "VOIP_REFUSE" "error"', 'SET VARIABLE "VOIP_DECISION" "refuse"']
    assert server.failed == 1
    await server.stop()


async def test_call_refused_becomes_refusal_variables():
    server, port = await start({"r": route_refuses})
    fake = await session(port, headers("r"))
    assert fake.commands[0] == 'SET VARIABLE "VOIP_REFUSE" "not_permitted_international"'
    await server.stop()


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x00\xff\xfe garbage \n\n",
        b"agi_network_script: x\n",  # closed before the blank line
        b"agi_x: " + b"A" * 40000 + b"\n\n",  # oversized header
        b"",
    ],
)
async def test_garbage_on_the_socket_ends_cleanly_and_server_keeps_serving(garbage):
    server, port = await start({"set": route_sets})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(garbage)
    await writer.drain()
    writer.write_eof()
    # the server closes its side promptly instead of spinning
    assert await asyncio.wait_for(reader.read(), 7) == b""
    writer.close()
    fake = await session(port, headers("set", agi_arg_1="ok"))
    assert fake.commands == ['SET VARIABLE "RESULT" "ok"']
    await server.stop()


async def test_caller_hangup_mid_dialog_ends_the_route_cleanly():
    server, port = await start({"two": route_reads_twice})
    fake = await session(port, headers("two"), answer=lambda cmd: "HANGUP")
    assert len(fake.commands) == 1  # no second command after HANGUP
    assert server.failed == 0 and server.handled == 1
    await server.stop()


async def test_injected_newline_in_a_value_is_never_sent_as_a_second_command():
    server, port = await start({"set": route_sets})
    fake = await session(port, headers("set", agi_arg_1="x\\nEXEC Dial PJSIP/evil"))
    # agi_arg_1 arrives with a literal backslash-n (headers are line based): sent quoted, inert
    assert fake.commands == ['SET VARIABLE "RESULT" "x\\\\nEXEC Dial PJSIP/evil"']
    await server.stop()


def test_quote_refuses_control_characters():
    with pytest.raises(ValueError):
        quote("a\nEXEC Dial PJSIP/evil")
    with pytest.raises(ValueError):
        quote("a\rb")


def test_sync_route_is_rejected_at_registration():
    def not_async(channel, deps):  # panoramisk would hit asyncio.coroutine on 3.11
        pass

    with pytest.raises(TypeError):
        FastAGIServer({"x": not_async})


@pytest.mark.parametrize(
    "line, result, data",
    [
        ("200 result=1 (hello world)", "1", "hello world"),
        ("200 result=0", "0", None),
        ("200 result= (timeout)", "", "timeout"),
        ("200 result=123 (timeout)", "123", "timeout"),
        ("200 result=0 endpos=16000", "0", None),
    ],
)
def test_parse_result(line, result, data):
    r = parse_result(line)
    assert (r.result, r.data) == (result, data)


@pytest.mark.parametrize("line", ["HANGUP", "200 result=-1", "200 result=-1 (hangup)"])
def test_parse_result_hangup(line):
    with pytest.raises(AGIHangup):
        parse_result(line)


@given(st.text(max_size=200))
def test_parse_result_never_raises_anything_but_agi_errors(line):
    try:
        parse_result(line)
    except AGIError:
        pass


@given(st.text(alphabet=st.characters(min_codepoint=32, blacklist_characters="\x7f"), max_size=100))
def test_quote_is_one_line_and_round_trips(text):
    q = quote(text)
    assert "\n" not in q and q.startswith('"') and q.endswith('"')
    inner = q[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    assert inner == text
