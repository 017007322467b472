"""Several nodes (issue 17), tested the way calls really start: SIPp phones registered through the
Kamailio edge with their numbers' own credentials call each other and the PSTN (a SIPp carrier on
the host); then a controller is killed, an Asterisk node stopped, the reports replica stopped and
the database primary stopped, each during calls, and what members and the operator rely on is
checked: every call decided, none billed twice, no hold left open, phones reachable, 911 through.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from controller.services import realtime_cache
from db.models import VirtualNumber
from db.session import transaction
from tests.multinode.conftest import (
    CONTROLLERS,
    EDGE,
    HOST_IP,
    NODES,
    PANEL,
    Stack,
    container,
    dispatcher_active,
    docker,
    healthz,
    prometheus,
    running,
    start_again,
    wait_gone_from_edge,
    wait_whole,
)
from tests.support.members import Member, make_member
from tests.support.sipp import Phone, free_udp_port, run_scenario
from tests.support.wait import until_sync

CONFERENCE = "16465550150"  # VOIP_CONFERENCE_NUMBERS' default: dispatcher set 2 (one node)
_numbers = iter(range(1000, 9999))


def pstn() -> str:
    return f"1212555{next(_numbers):04d}"


def member(stack: Stack, **options: bool) -> Member:
    return make_member(stack.factory, stack.settings, credit="20.00", allow_us_canada_ld=True, **options)


def node_of(uniqueid: str) -> str:
    """The node a CDR was written by: its uniqueid is `<systemname>-<epoch>.<n>`."""
    return uniqueid.rsplit("-", 1)[0]


def answered_pstn(stack: Stack, m: Member) -> list[tuple[Any, ...]]:
    return [r for r in stack.cdrs(m.number) if r[3] == "ANSWERED" and r[2].startswith("1212")]


def charges_of(stack: Stack, cdr_ids: list[int]) -> dict[int, int]:
    rows = stack.sql(
        "SELECT cdr_id, count(*) FROM cdr_charges WHERE cdr_id = ANY(%s) GROUP BY cdr_id", cdr_ids
    )
    return {r[0]: r[1] for r in rows}


def open_holds(stack: Stack, m: Member) -> int:
    return stack.sql(
        "SELECT count(*) FROM call_authorizations WHERE account_id = %s AND settled_at IS NULL", m.account_id
    )[0][0]


def every_call_rated_once(stack: Stack, m: Member, timeout: float = 60) -> list[tuple[Any, ...]]:
    """Every answered PSTN CDR of the member has one charge (the rater's unique key makes a
    second impossible; this proves none is missing), and the member's credit went down by
    exactly the sum of them."""

    def rated() -> list[tuple[Any, ...]] | None:
        cdrs = answered_pstn(stack, m)
        charges = charges_of(stack, [r[0] for r in cdrs])
        return cdrs if cdrs and all(charges.get(r[0]) == 1 for r in cdrs) else None

    cdrs = until_sync(rated, timeout, 1.0, f"every answered call of {m.number} rated")
    spent = stack.sql(
        "SELECT coalesce(sum(original - remaining), 0) FROM credit_lots WHERE account_id = %s", m.account_id
    )[0][0]
    charged = stack.sql("SELECT coalesce(sum(cost), 0) FROM cdr_charges WHERE account_id = %s", m.account_id)[
        0
    ][0]
    assert spent == charged, (spent, charged)
    return cdrs


def holds_closed(stack: Stack, m: Member, timeout: float = 60) -> None:
    until_sync(
        lambda: open_holds(stack, m) == 0, timeout, 1.0, f"every hold of {m.number} settled or released"
    )


def calls_until_both_nodes(stack: Stack, m: Member, limit: int = 16) -> set[str]:
    """PSTN calls until CDRs of both nodes exist (the edge hashes each call's Call-ID)."""
    seen: set[str] = set()
    for _ in range(limit):
        result = stack.call(m.number, m.sip_password, pstn())
        assert result.ok, result.stderr[-2000:]
        seen = {node_of(r[1]) for r in stack.cdrs(m.number)}
        if seen >= set(NODES):
            break
    return seen


def phone(stack: Stack, m: Member, behaviour: str = "answer", timeout: int = 60) -> Phone:
    return Phone(
        behaviour,
        m.number,
        m.sip_password,
        host=EDGE[0],
        port=EDGE[1],
        cwd=stack.work,
        timeout=timeout,
        local_ip=HOST_IP,
    )


def agi_decisions() -> dict[str, float]:
    """Prometheus: each controller's FastAGI decisions so far."""
    out: dict[str, float] = {}
    for row in prometheus("sum by (instance) (voip_agi_decisions_total)"):
        out[row["metric"]["instance"].split(":")[0]] = float(row["value"][1])
    return out


# --- through both nodes ----------------------------------------------------------------------------


def test_phones_call_each_other_and_the_pstn_through_both_nodes(stack: Stack):
    before = agi_decisions()
    alice, bob = member(stack), member(stack)
    seen = calls_until_both_nodes(stack, alice)
    assert seen == set(NODES), f"every call went to {seen}"
    # Bob registered through the edge is reached from whichever node takes the call
    on_nodes: set[str] = set()
    for _ in range(12):
        bob_phone = phone(stack, bob)
        result = stack.call(alice.number, alice.sip_password, bob.number)
        assert result.ok, result.stderr[-2000:]
        assert bob_phone.finished_ok(20), "Bob's phone was not called, or the call did not end"
        on_nodes = {node_of(r[1]) for r in stack.cdrs(alice.number) if r[2] == bob.number}
        if on_nodes == set(NODES):
            break
    assert on_nodes == set(NODES), on_nodes
    # each call answered by Bob's phone (the legs to the contacts his earlier phones left ring
    # out beside it: a member may have several devices)
    calls: dict[str, list[tuple[Any, ...]]] = {}
    for r in stack.cdrs(alice.number):
        if r[2] == bob.number:
            calls.setdefault(r[1], []).append(r)
    assert calls and all(
        any(r[3] == "ANSWERED" and r[5].startswith(f"PJSIP/{bob.number}-") for r in legs)
        for legs in calls.values()
    ), calls
    contacts = stack.sql("SELECT path, reg_server FROM ps_contacts WHERE endpoint = %s", bob.number)
    assert contacts and all(p.startswith(f"<sip:{EDGE[0]}") for p, _ in contacts), contacts
    # billed once each; the holds given back
    every_call_rated_once(stack, alice)
    holds_closed(stack, alice)
    # each node asked its own controller first (the SRV records' priorities): both decided
    after = until_sync(
        lambda: (
            (a := agi_decisions())
            and all(a.get(ip, 0) > before.get(ip, 0) for ip in ("ctl-a", "ctl-b"))
            and a
        ),
        20,
        1.0,
        "both controllers' decisions in Prometheus",
    )
    assert after


def test_conferences_are_pinned_to_one_node(stack: Stack):
    alice = member(stack)
    # each call its own Call-ID (without pinning, each would go to either node), and in each form
    # a member may dial the access number
    for dialed in [CONFERENCE, CONFERENCE[1:], "+" + CONFERENCE] * 3:
        result = stack.call(alice.number, alice.sip_password, dialed)
        assert result.ok, result.stderr[-2000:]
    # every leg of every call (the access number's and the conference's own) on the first node
    cdrs = stack.cdrs(alice.number)
    assert len({r[1] for r in cdrs}) >= 9, cdrs
    assert {node_of(r[1]) for r in cdrs} == {"ast-a"}, cdrs


def test_a_sip_password_changed_is_the_one_every_node_asks_for(stack: Stack):
    m = member(stack)
    calls_until_both_nodes(stack, m)  # both nodes have the member's objects cached now
    factory = stack.factory
    realtime_cache.expire_on_commit(factory, stack.settings)
    from db import accounts

    with transaction(factory) as s:
        vn = s.get(VirtualNumber, m.vn_id)
        assert vn is not None
        accounts.set_sip_password(s, vn, "Changed-Sip-2026x", realm=stack.settings.sip_realm)
    # through the edge, which hashes each REGISTER's Call-ID to a node: until both nodes have
    # taken the new password (the contact's reg_server names the node that took it)
    took: set[str] = set()
    for _ in range(16):
        port = free_udp_port(HOST_IP)
        new = run_scenario(
            "register.xml",
            *EDGE,
            service=m.number,
            auth_user=m.number,
            auth_password="Changed-Sip-2026x",
            cwd=stack.work,
            local_ip=HOST_IP,
            local_port=port,
        )
        assert new.ok, new.stderr[-2000:]
        took |= {
            r[0]
            for r in stack.sql(
                "SELECT reg_server FROM ps_contacts WHERE endpoint = %s AND uri LIKE %s",
                m.number,
                f"%:{port}%",
            )
        }
        if took == set(NODES):
            break
    assert took == set(NODES), took
    # and the old one is refused, each attempt hashed to either node
    for _ in range(8):
        old = run_scenario(
            "register.xml",
            *EDGE,
            service=m.number,
            auth_user=m.number,
            auth_password=m.sip_password,
            cwd=stack.work,
            local_ip=HOST_IP,
        )
        assert not old.ok, "the old SIP password still registers on a node"


def _sip(sock: socket.socket, message: str, to: tuple[str, int]) -> str | None:
    sock.sendto(message.replace("\n", "\r\n").encode(), to)
    try:
        return sock.recv(4096).decode(errors="replace")
    except TimeoutError:
        return None


def test_the_edge_relays_nothing_but_to_the_nodes(stack: Stack):
    """A phone (or anyone) cannot use the edge to reach another host: an in-dialog request whose
    Route or Request-URI names a host that is not a node is refused, and nothing reaches it."""
    victim = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    victim.bind((HOST_IP, 0))
    victim.settimeout(2)
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.bind((HOST_IP, 0))
    attacker.settimeout(3)
    vport, aport = victim.getsockname()[1], attacker.getsockname()[1]
    with victim, attacker:
        for route, ruri in [
            (f"Route: <sip:{EDGE[0]};lr>, <sip:{HOST_IP}:{vport};lr>\n", f"sip:x@{HOST_IP}:{vport}"),
            ("", f"sip:x@{HOST_IP}:{vport}"),
        ]:
            branch = f"z9hG4bK{uuid.uuid4().hex[:16]}"
            reply = _sip(
                attacker,
                f"MESSAGE {ruri} SIP/2.0\n"
                f"Via: SIP/2.0/UDP {HOST_IP}:{aport};branch={branch};rport\n"
                f"{route}"
                "Max-Forwards: 70\n"
                f"From: <sip:attacker@{HOST_IP}>;tag=a1\n"
                f"To: <sip:x@{HOST_IP}>;tag=made-up\n"
                f"Call-ID: {uuid.uuid4().hex}\n"
                "CSeq: 1 MESSAGE\n"
                "Content-Type: text/plain\n"
                "Content-Length: 5\n\nhello",
                EDGE,
            )
            assert reply is not None and reply.startswith("SIP/2.0 403"), reply
            try:
                leaked = victim.recv(4096)
            except TimeoutError:
                leaked = b""
            assert leaked == b"", leaked[:300]


# --- things stopped under load -----------------------------------------------------------------------


def _stream(stack: Stack, m: Member, count: int, parallel: int, after: int, action: Callable[[], None]):
    """`count` PSTN calls from the member's phone, `parallel` at a time; `action` runs once
    `after` of them have ended. Returns each call's SIPp result."""
    done = 0
    lock = threading.Lock()
    fired = threading.Event()

    def one(_: int):
        nonlocal done
        result = stack.call(m.number, m.sip_password, pstn(), timeout=60)
        with lock:
            done += 1
            fire = done >= after and not fired.is_set()
            if fire:
                fired.set()
        if fire:
            action()
        return result

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, range(count)))


def test_a_controller_killed_during_a_stream_of_calls(stack: Stack):
    alice = member(stack)
    killed_at: list[float] = []

    def kill() -> None:
        docker("kill", container("ctl-a"))
        killed_at.append(time.monotonic())

    try:
        results = _stream(stack, alice, count=14, parallel=3, after=4, action=kill)
        assert killed_at, "the controller was never killed"
        # every call got a decision: answered by the carrier (a refused call would fail here)
        failed = [r.stderr[-800:] for r in results if not r.ok]
        assert not failed, failed
        cdrs = every_call_rated_once(stack, alice)
        assert len(cdrs) == 14, len(cdrs)
        # Prometheus saw the replica go
        down = until_sync(
            lambda: [r for r in prometheus('up{job="controller"}') if r["value"][1] == "0"],
            20,
            1.0,
            "ctl-a down",
        )
        assert {r["metric"]["instance"] for r in down} == {"ctl-a:9100"}
        assert healthz(CONTROLLERS["ctl-b"])["ok"]
        # with ctl-a still dead: every call's hold was given back at its hangup, through ctl-b
        holds_closed(stack, alice, timeout=30)
    finally:
        if not running("ctl-a"):
            start_again("ctl-a")
        wait_whole()
    holds_closed(stack, alice)


def test_an_asterisk_node_stopped_during_calls(stack: Stack):
    alice, bob, carol = member(stack), member(stack), member(stack)
    # calls that last until Asterisk ends them (uac_call.xml waits for its BYE), on both nodes
    long_calls: list[Any] = []
    with ThreadPoolExecutor(6) as pool:
        futures = [
            pool.submit(
                stack.call, carol.number, carol.sip_password, pstn(), scenario="uac_call.xml", timeout=90
            )
            for _ in range(6)
        ]

        def channels(node: str) -> int:
            out = docker("exec", container(node), "asterisk", "-rx", "core show channels count")
            m = re.search(r"(\d+) active call", out)
            return int(m[1]) if m else 0

        until_sync(lambda: sum(channels(n) for n in NODES) >= 6, 30, 0.5, "six calls up")
        on_a = channels("ast-a")
        assert on_a > 0, "no call landed on ast-a: the Call-ID hash sent all six to ast-b"
        stopped = time.monotonic()
        try:
            docker("stop", "-t", "20", container("ast-a"), timeout=60)
            # the edge stops sending to it within its probe time (2 s) plus one round
            gone_after = wait_gone_from_edge(NODES["ast-a"], 10)
            assert time.monotonic() - stopped < 30
            # new calls go through the other node at once
            for _ in range(4):
                result = stack.call(alice.number, alice.sip_password, pstn())
                assert result.ok, result.stderr[-2000:]
            assert {node_of(r[1]) for r in stack.cdrs(alice.number)} == {"ast-b"}
            # a phone that registered (maybe through ast-a) is still reachable, through ast-b
            bob_phone = phone(stack, bob)
            reached = stack.call(alice.number, alice.sip_password, bob.number)
            assert reached.ok and bob_phone.finished_ok(20), reached.stderr[-2000:]
            # the calls still up on ast-b end normally (the operator hangs them up here)
            docker("exec", container("ast-b"), "asterisk", "-rx", "channel request hangup all")
            long_calls = [f.result(timeout=90) for f in futures]
        finally:
            if not running("ast-a"):
                start_again("ast-a")
    # every long call ended (the stopped node's with its shutdown), and each was billed once
    for i, r in enumerate(long_calls):
        (stack.work / f"long-call-{i}.txt").write_text(r.stderr + "\n----\n" + r.stdout)
    assert all(r.ok for r in long_calls), [r.stderr[-3000:] for r in long_calls if not r.ok]
    cdrs = every_call_rated_once(stack, carol)
    assert len(cdrs) == 6, cdrs
    assert sum(1 for r in cdrs if node_of(r[1]) == "ast-a") == on_a
    wait_whole()
    holds_closed(stack, carol)
    holds_closed(stack, alice)
    print(f"ast-a left the edge {gone_after:.1f} s after its stop began")


class _Panel:
    """A browser's session with the panel over plain HTTP on the stack's network: the panel's
    cookies are Secure (production is behind TLS), which urllib's cookie jar would not send
    back here, so this keeps them itself."""

    def __init__(self, login: str, password: str):
        self.cookies: dict[str, str] = {}
        page = self.get("/login")
        self.post("/login", {"csrf_token": _form_token(page), "login": login, "password": password})

    def _open(self, path: str, data: dict[str, str] | None, timeout: float) -> tuple[int, str]:
        request = urllib.request.Request(
            PANEL + path,
            urllib.parse.urlencode(data).encode() if data is not None else None,
            {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())},
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            response = exc
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        body = response.read().decode(errors="replace")
        location = response.headers.get("Location")
        if response.status in (301, 302, 303) and location:
            return self._open(urllib.parse.urlsplit(location).path, None, timeout)
        return response.status, body

    def get(self, path: str, timeout: float = 20) -> str:
        status, body = self._open(path, None, timeout)
        assert status == 200, (path, status, body[-800:])
        return body

    def post(self, path: str, data: dict[str, str], timeout: float = 30) -> str:
        status, body = self._open(path, data, timeout)
        assert status == 200, (path, status, body[-800:])
        return body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _form_token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]  # type: ignore[index]


def test_the_replica_stopped_the_panel_keeps_working_from_the_primary(stack: Stack):
    alice = _Panel("17005550101", "Demo-Alice-2026")
    admin = _Panel("admin", "Demo-Admin-2026")
    # the replica caught up with the calls of the tests before (within the lag bound)
    until_sync(lambda: "Reports database: replica" in admin.get("/admin/"), 60, 2.0, "reports on the replica")
    try:
        docker("stop", container("pg-replica"), timeout=60)
        start = time.monotonic()
        assert "Call History" in alice.get("/call-history/")
        assert time.monotonic() - start < 10
        # each panel process checks the replica at most every 5 s (webpanel/reports_db.py): the
        # one serving the operator may still hold a verdict from before the stop
        until_sync(
            lambda: re.search(
                r"Reports database: primary \(replica [^)]* unreachable\)", admin.get("/admin/")
            ),
            20,
            1.0,
            "the operator told reports come from the primary",
        )
        # a member's write goes to the primary (the replica is down: it could not have taken it)
        form = alice.get("/notepad/")
        note = f"written while the replica is down {time.time()}"
        alice.post("/notepad/", {"csrf_token": _form_token(form), "body": note, "save": "Save"})
        assert stack.sql("SELECT count(*) FROM notes WHERE body = %s", note)[0][0] == 1
    finally:
        start_again("pg-replica")
    until_sync(
        lambda: "Reports database: replica" in admin.get("/admin/"), 60, 2.0, "reports back on the replica"
    )


def test_the_primary_down_911_connects_and_billable_calls_fail_closed(stack: Stack):
    m = member(stack)
    seen = calls_until_both_nodes(stack, m)  # both nodes have the phone's objects cached
    assert seen == set(NODES)
    invites_before = set(stack.carrier.invited_numbers())
    try:
        docker("stop", container("pg-primary"), timeout=60)
        # whichever node the edge picks, 911 goes out (the default trunk, never the database)
        for _ in range(3):
            emergency = stack.call(m.number, m.sip_password, "911")
            assert emergency.ok, emergency.stderr[-2000:]
        # a billable call: answered with the refusal's announcement and hung up by Asterisk;
        # the carrier never hears of it
        for _ in range(3):
            dialed = pstn()
            refused = stack.call(m.number, m.sip_password, dialed, scenario="uac_call.xml")
            assert refused.ok, refused.stderr[-2000:]
            assert dialed not in set(stack.carrier.invited_numbers()) - invites_before
    finally:
        start_again("pg-primary")
    wait_whole(240)
    # and with the database back, billable calls go through again
    after = stack.call(m.number, m.sip_password, pstn())
    assert after.ok, after.stderr[-2000:]
    assert dispatcher_active()["1"] == set(NODES.values())
