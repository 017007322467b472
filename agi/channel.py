"""A narrow, typed view of one FastAGI session: the only way handlers talk to Asterisk.

It quotes every argument, refuses control characters (so nothing a caller controls can
inject a second AGI command), and turns 510/520/HANGUP answers into typed exceptions.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass

from agi.errors import AGIAppError, AGIHangup, AGIInvalidCommand, AGIProtocolError, AGIUsageError

MAX_LINE = 8192
_RESULT = re.compile(r"^200 result=(?P<result>-?\S*)(?:\s+\((?P<data>.*)\))?(?:\s+endpos=\d+)?\s*$")
_MSET_UNSAFE = set(",\"\\'|")
_SEP = "^~^"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_()\-.,]*$")


@dataclass(frozen=True)
class AGIResult:
    result: str
    data: str | None


def quote(arg: object) -> str:
    """One AGI argument: double-quoted, backslash-escaped, no control characters."""
    text = str(arg)
    if _CONTROL.search(text):
        raise ValueError("control characters are not allowed in an AGI argument")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_result(line: str) -> AGIResult:
    if line == "HANGUP":
        raise AGIHangup("caller hung up")
    if line.startswith("510"):
        raise AGIInvalidCommand(line)
    if line.startswith("520"):
        raise AGIUsageError(line)
    m = _RESULT.match(line)
    if not m:
        raise AGIProtocolError(f"unexpected AGI answer {line[:80]!r}")
    result, data = m.group("result"), m.group("data")
    if result == "-1":
        if data == "hangup" or data is None:
            raise AGIHangup("channel hung up")
        raise AGIAppError(line)
    return AGIResult(result, data)


class Channel:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: Mapping[str, str],
        command_timeout: float = 120.0,
    ):
        self._reader, self._writer = reader, writer
        self.headers = dict(headers)
        self._timeout = command_timeout
        self.hung_up = False

    # --- what Asterisk told us when the session opened
    def header(self, name: str, default: str = "") -> str:
        value = self.headers.get(f"agi_{name}", default)
        return "" if value == "unknown" else value

    @property
    def uniqueid(self) -> str:
        return self.header("uniqueid")

    @property
    def channel_name(self) -> str:
        return self.header("channel")

    @property
    def extension(self) -> str:
        return self.header("extension")

    @property
    def context(self) -> str:
        return self.header("context")

    @property
    def callerid_num(self) -> str:
        return self.header("callerid")

    @property
    def callerid_name(self) -> str:
        return self.header("calleridname")

    def args(self) -> list[str]:
        out, i = [], 1
        while f"agi_arg_{i}" in self.headers:
            out.append(self.headers[f"agi_arg_{i}"])
            i += 1
        return out

    # --- commands
    async def command(
        self, verb: str, *args: object, timeout: float | None = None, after_hangup: bool = False
    ) -> AGIResult:
        """`timeout`: seconds to wait for the answer (default: the session's). `after_hangup`:
        send it although the caller is gone (res_agi still answers GET VARIABLE on a dead
        channel) and skip the one asynchronous HANGUP line Asterisk sends before the answer."""
        if self.hung_up and not after_hangup:
            raise AGIHangup("channel already hung up")
        limit = timeout or self._timeout
        line = " ".join([verb, *(quote(a) for a in args)])
        self._writer.write(line.encode() + b"\n")
        try:
            await self._writer.drain()
            while True:
                async with asyncio.timeout(limit):  # no Task per line, unlike wait_for
                    raw = await self._reader.readline()
                if not raw:
                    self.hung_up = True
                    raise AGIHangup("socket closed by Asterisk")
                if len(raw) > MAX_LINE:
                    raise AGIProtocolError("answer line too long")
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if text.startswith("100"):
                    continue  # "100 Trying..." precedes the real answer
                if text == "HANGUP" and after_hangup:
                    self.hung_up = True
                    continue
                if text.startswith("520-"):
                    # multi-line usage error: consume until "520 End of proper usage."
                    while not text.startswith("520 "):
                        async with asyncio.timeout(self._timeout):
                            more = await self._reader.readline()
                        if not more:
                            break
                        text = more.decode("utf-8", "replace").rstrip("\r\n")
                    raise AGIUsageError(line)
                return parse_result(text)
        except AGIHangup:
            self.hung_up = True
            raise
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            self.hung_up = True
            raise AGIHangup(str(exc)) from exc
        except TimeoutError as exc:
            raise AGIProtocolError(f"no answer to {verb} within {limit} s") from exc

    async def get_variable(self, name: str) -> str | None:
        if not _VAR_NAME.match(name):
            raise ValueError(f"bad variable name {name!r}")
        r = await self.command("GET VARIABLE", name)
        return r.data if r.result == "1" else None

    async def set_variable(self, name: str, value: object) -> None:
        if not _VAR_NAME.match(name):
            raise ValueError(f"bad variable name {name!r}")
        await self.command("SET VARIABLE", name, value)

    async def set_many(self, pairs: list[tuple[str, object]]) -> None:
        """Set several variables in one round trip (EXEC MSet) when every value is plain (no
        comma, quote, backslash or control character: MSet would split or strip them);
        otherwise one SET VARIABLE each. Set in order, so put the decision last."""
        for name, _ in pairs:
            if not _VAR_NAME.match(name):
                raise ValueError(f"bad variable name {name!r}")
        values = [str(v) for _, v in pairs]
        if all(not (set(v) & _MSET_UNSAFE) and v.isprintable() for v in values):
            await self.exec("MSet", *(f"{n}={v}" for (n, _), v in zip(pairs, values, strict=True)))
            return
        for name, value in pairs:
            await self.set_variable(name, value)

    async def get_many(self, names: list[str]) -> list[str]:
        """Several variables (or functions) in one round trip: GET FULL VARIABLE of
        ${A}<sep>${B}...; '' for an unset one. Only for values that cannot contain the separator
        (channel names, ids, digits)."""
        for name in names:
            if not _VAR_NAME.match(name):
                raise ValueError(f"bad variable name {name!r}")
        r = await self.command("GET FULL VARIABLE", _SEP.join("${" + n + "}" for n in names))
        data = r.data if r.result == "1" and r.data is not None else ""
        parts = data.split(_SEP)
        return parts + [""] * (len(names) - len(parts)) if len(parts) <= len(names) else parts[: len(names)]

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def stream_file(self, sound: str, escape_digits: str = "") -> str:
        """Play a sound; returns the digit that interrupted it, or ''."""
        r = await self.command("STREAM FILE", sound, escape_digits)
        return chr(int(r.result)) if r.result not in ("", "0") else ""

    async def get_data(self, sound: str, timeout_ms: int = 5000, max_digits: int = 20) -> str | None:
        """Prompt and collect digits; None when the caller typed nothing before the timeout."""
        r = await self.command("GET DATA", sound, timeout_ms, max_digits)
        if r.data == "timeout" and not r.result:
            return None
        return r.result

    async def exec(self, application: str, *args: object, timeout: float | None = None) -> AGIResult:
        """EXEC an application; its arguments are joined with ','. Values that callers control
        must be validated by the caller of this method (a ',' or '&' would add arguments).
        `timeout`: for applications that legitimately run long (ReceiveFAX of many pages)."""
        if not application.isalnum():
            raise ValueError(f"bad application name {application!r}")
        return await self.command("EXEC", application, ",".join(str(a) for a in args), timeout=timeout)

    async def get_variable_after_hangup(self, name: str) -> str | None:
        """What an application left on a channel whose caller has hung up (FAXSTATUS after a
        sender dropped mid-fax): res_agi keeps answering GET VARIABLE on a dead channel."""
        if not _VAR_NAME.match(name):
            raise ValueError(f"bad variable name {name!r}")
        r = await self.command("GET VARIABLE", name, after_hangup=True)
        return r.data if r.result == "1" else None

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", message.replace("\n", " "), level)

    async def hangup(self) -> None:
        try:
            await self.command("HANGUP")
        except AGIHangup:
            pass
