"""The carriers' qualify (issue 14): the controller sends each carrier SIP OPTIONS itself.

Carriers reach Asterisk through realtime, and Asterisk qualifies only the AORs a sorcery listing
found; letting listings reach realtime made a restart cost a minute of CPU at 20,000 members
(docs/asterisk-facts.md, "Carriers through realtime"), and AMI PJSIPQualify takes the same path
(no OPTIONS for a realtime AOR it never listed). So this prober does it: every `qualify_seconds`
of each enabled UDP or TCP carrier (0: never qualified, always usable) one OPTIONS goes from one UDP
socket to the carrier's host:port. Any SIP response (even 404 or 503: something answers SIP
there) makes it reachable, with its round trip; no response within min(3 s, qualify_seconds)
twice in a row (the second sent at once) makes it unreachable. A TCP carrier gets the same
OPTIONS over a TCP connection of its own per probe (opened, one request, its response, closed):
a refused or timed-out connection, or no response within the wait, makes it unreachable (TCP
retransmits by itself, so there is no second try).

The state lives in memory; the routing table (agi/routing_table.py) is told the set of
unreachable carriers after each round, and route() leaves them out like disabled ones (all of a
number's carriers down: no_route, the default trunk when VOIP_ROUTE_FALLBACK allows). Each
result is also written to carrier_health (a few rows) for the admin's Carriers page. The
carriers are read again every round (TICK_SECONDS), so a new or disabled one is seen at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from db.hotpath import HotDB

log = logging.getLogger("controller.services.carrier_qualify")

TICK_SECONDS = 1.0
MAX_WAIT_SECONDS = 3.0
TRIES = 2  # no answer this many times in a row: unreachable

# tls carriers are never published to Asterisk (db/migrations 0020), so never qualified
CARRIERS = (
    "SELECT id, name, host, port, transport, qualify_seconds FROM carriers"
    " WHERE enabled AND transport IN ('udp', 'tcp')"
)
UPSERT = """
INSERT INTO carrier_health (carrier_id, reachable, rtt_ms, checked_at, detail)
VALUES ($1, $2, $3, now(), $4)
ON CONFLICT (carrier_id) DO UPDATE
   SET reachable = EXCLUDED.reachable, rtt_ms = EXCLUDED.rtt_ms,
       checked_at = EXCLUDED.checked_at, detail = EXCLUDED.detail
"""


@dataclass
class Health:
    reachable: bool | None = None  # None: not probed yet (usable)
    rtt_ms: float | None = None
    detail: str = ""
    due: float = 0.0  # monotonic time of the next probe
    probing: bool = field(default=False, repr=False)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, waiting: dict[str, asyncio.Future[str]]):
        self.waiting = waiting

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """A response is matched to its probe by Call-ID; anything else is ignored."""
        try:
            text = data.decode("utf-8", "replace")
            if not text.startswith("SIP/2.0 "):
                return
            status = text.split("\r\n", 1)[0][8:].strip()
            for line in text.split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() in ("call-id", "i"):
                    fut = self.waiting.get(value.strip())
                    if fut is not None and not fut.done():
                        fut.set_result(status[:100])
                    return
        except Exception:  # garbage from the network never stops the prober
            return


def options_request(
    host: str, port: int, local_ip: str, local_port: int, call_id: str, transport: str = "udp"
) -> bytes:
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    local = f"[{local_ip}]:{local_port}" if ":" in local_ip else f"{local_ip}:{local_port}"
    uri_params = ";transport=tcp" if transport == "tcp" else ""
    return (
        f"OPTIONS sip:{hostport}{uri_params} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} {local};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:qualify@{local}>;tag={secrets.token_hex(6)}\r\n"
        f"To: <sip:{hostport}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"Contact: <sip:qualify@{local}{uri_params}>\r\n"
        "Accept: application/sdp\r\n"
        "User-Agent: voip-controller-qualify\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _source_ip(family: int, addr: tuple[Any, ...]) -> str:
    """The local address the kernel would send from to `addr` (a connected UDP socket sends
    nothing), for the Via and From that the carrier answers to."""
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect(addr[:2])
        return str(s.getsockname()[0])


class CarrierQualifier:
    def __init__(
        self,
        pg: HotDB,
        on_down: Callable[[set[str]], None],
        tick: float = TICK_SECONDS,
        max_wait: float = MAX_WAIT_SECONDS,
    ):
        self.pg = pg
        self.on_down = on_down
        self.tick = tick
        self.max_wait = max_wait
        self.health: dict[str, Health] = {}  # by carrier name
        self.sent = 0
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._task: asyncio.Task[None] | None = None
        self._probes: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="carrier-qualify")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._probes) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None
        for tr in self._transports.values():
            tr.close()
        self._transports.clear()

    def down(self) -> set[str]:
        return {name for name, h in self.health.items() if h.reachable is False}

    async def _run(self) -> None:
        failing = 0  # rounds failed in a row: the first is logged, then one a minute
        while True:
            try:
                await self.round()
                failing = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database away: keep the last state, try next tick
                if failing % max(1, int(60 / max(self.tick, 0.01))) == 0:
                    log.warning(
                        "carrier qualify round failed",
                        extra={"error": repr(exc)[:200], "failed_rounds": failing + 1},
                    )
                failing += 1
            await asyncio.sleep(self.tick)

    async def round(self) -> None:
        """Read the carriers, start the probes that are due, and tell the routing table."""
        async with self.pg.connection() as conn:
            rows = await conn.fetch(CARRIERS)
        now = time.monotonic()
        qualified = {r["name"]: r for r in rows if r["qualify_seconds"] > 0}
        for name in set(self.health) - set(qualified):
            del self.health[name]  # gone, disabled or no longer qualified: usable
        for name, r in qualified.items():
            h = self.health.setdefault(name, Health())
            if h.probing or h.due > now:
                continue
            h.probing = True
            h.due = now + r["qualify_seconds"]
            task = asyncio.create_task(
                self._probe(r["id"], name, r["host"], r["port"], r["qualify_seconds"], r["transport"])
            )
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)
        self.on_down(self.down())

    async def _probe(
        self, carrier_id: int, name: str, host: str, port: int, every: int, transport: str = "udp"
    ) -> None:
        h = self.health[name]
        try:
            wait = min(self.max_wait, float(every))
            if transport == "tcp":
                reachable, rtt_ms, detail = await self.qualify_tcp(host, port, wait)
            else:
                reachable, rtt_ms, detail = await self.qualify(host, port, wait)
            was = h.reachable
            h.reachable, h.rtt_ms, h.detail = reachable, rtt_ms, detail
            if was is not reachable:
                log.info(
                    "carrier qualify changed",
                    extra={"carrier": name, "reachable": reachable, "rtt_ms": rtt_ms, "detail": detail},
                )
                self.on_down(self.down())
            async with self.pg.connection() as conn:
                await conn.execute(UPSERT, carrier_id, reachable, rtt_ms, detail[:120])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a carrier deleted meanwhile, the database away: next round
            log.warning("carrier qualify result not saved", extra={"carrier": name, "error": repr(exc)[:200]})
        finally:
            h.probing = False

    async def qualify(self, host: str, port: int, wait: float) -> tuple[bool, float | None, str]:
        """(reachable, round trip in ms, detail) of up to TRIES OPTIONS to host:port."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            return False, None, f"cannot resolve {host}: {exc.strerror or exc}"[:120]
        family, _, _, _, addr = infos[0]
        transport = await self._transport(family)
        local_ip = _source_ip(family, addr)
        local_port = transport.get_extra_info("sockname")[1]
        for _ in range(TRIES):
            call_id = f"{secrets.token_hex(12)}@{local_ip}"
            fut: asyncio.Future[str] = loop.create_future()
            self._waiting[call_id] = fut
            started = time.perf_counter()
            try:
                transport.sendto(options_request(host, port, local_ip, local_port, call_id), addr)
                self.sent += 1
                status = await asyncio.wait_for(fut, wait)
                return True, round((time.perf_counter() - started) * 1000, 2), status
            except TimeoutError:
                continue
            except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                return False, None, f"send failed: {exc.strerror or exc}"[:120]
            finally:
                self._waiting.pop(call_id, None)
        return False, None, f"no response to {TRIES} OPTIONS within {wait:g} s"

    async def qualify_tcp(self, host: str, port: int, wait: float) -> tuple[bool, float | None, str]:
        """(reachable, round trip in ms, detail) of one OPTIONS over a new TCP connection to
        host:port; `wait` bounds the connect and the response together."""
        started = time.perf_counter()
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(wait):
                reader, writer = await asyncio.open_connection(host, port)
                local_ip, local_port = writer.get_extra_info("sockname")[:2]
                call_id = f"{secrets.token_hex(12)}@{local_ip}"
                writer.write(options_request(host, port, local_ip, local_port, call_id, "tcp"))
                self.sent += 1
                while True:  # a provisional response (1xx) may come first; any final one will do
                    head = (await reader.readuntil(b"\r\n\r\n")).decode("utf-8", "replace")
                    if not head.startswith("SIP/2.0 "):
                        return False, None, "not a SIP response over TCP"
                    status = head.split("\r\n", 1)[0][8:].strip()
                    if not status.startswith("1"):
                        break
            return True, round((time.perf_counter() - started) * 1000, 2), status[:100]
        except TimeoutError:
            return False, None, f"no response to OPTIONS over TCP within {wait:g} s"
        except asyncio.IncompleteReadError:
            return False, None, "TCP connection closed before a SIP response"
        except (OSError, asyncio.LimitOverrunError) as exc:
            return False, None, f"TCP: {getattr(exc, 'strerror', None) or exc}"[:120]
        finally:
            if writer is not None:
                writer.close()

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        """One UDP socket per address family, opened on first use."""
        tr = self._transports.get(family)
        if tr is None or tr.is_closing():
            loop = asyncio.get_running_loop()
            local = ("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
            tr, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self._waiting), local_addr=local, family=family
            )
            self._transports[family] = tr
        return tr
