"""Keeps Asterisk's memory cache of members' PJSIP objects true to the database.

With several Asterisk nodes (VOIP_ASTERISK_NODES, issue 17) every node is told: each keeps a
cache of its own, and a node not told would keep accepting a member's old SIP password.

Asterisk serves endpoints, auths and aors from a sorcery memory cache in front of realtime
(asterisk_conf/templates/sorcery.conf.j2), so that a registered phone still authenticates, and
its 911 call goes out, while the database is down. Nothing in that cache ages out by itself
(Asterisk's own refresh drops an object the database cannot return: docs/asterisk-facts.md),
so a change must be expired to be seen: `expire_on_commit` makes every session of a factory
(the panel's, voipctl's) expire, once the transaction is committed, the cached objects of each
virtual number whose published columns it changed. Expiring after the commit, not before, is
what keeps a lookup between the two from caching the old row again.

Carriers (issue 14) are published through the same views as objects named `carrier-<name>`
(db/migrations/versions/0020_carriers.py) and cached the same way, so a committed change to a
carrier (a new password, a host, disabling it) expires its objects too and is live on its next
call. All carriers' identifies (their source addresses) are held whole in one memory cache,
read before any caller is known: any carrier change expires all of it. Asterisk reads the
outbound registrations only when res_pjsip_outbound_registration loads or reloads, so a change to
a carrier that registers (before or after the change) reloads them. Each changed carrier's AOR is
also re-synchronized for qualify, which sets its qualify up but sends no OPTIONS for a realtime
carrier (docs/asterisk-facts.md "Carriers through realtime").
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction, sessionmaker
from sqlalchemy.orm.attributes import instance_state

from controller.services.ami import AMIError, AMISession
from controller.settings import Settings
from db.models import Account, Carrier, VirtualNumber

log = logging.getLogger("controller.services.realtime_cache")

# Asterisk's names for the caches of sorcery.conf's `endpoint/cache`, `auth/cache`, `aor/cache`
# (module/type when the cache has no name of its own); each object's id is the virtual number
CACHES = ("res_pjsip/endpoint", "res_pjsip/auth", "res_pjsip/aor")
# The columns the ps_endpoints, ps_auths and ps_aors views publish
# (db/migrations/versions/0003_realtime_views.py, 0020_carriers.py; tests/db/test_realtime_cache.py
# checks them)
PUBLISHED: dict[str, frozenset[str]] = {
    "virtual_numbers": frozenset(
        {"number", "account_id", "display_name", "mpo", "sip_md5_cred", "max_contacts", "sip_allowlist"}
    ),
    "accounts": frozenset({"id", "status", "language"}),
    "carriers": frozenset(
        {
            "name",
            "host",
            "port",
            "transport",
            "codecs",
            "qualify_seconds",
            "enabled",
            "register",
            "auth_username",
            "auth_type",
            "auth_secret",
            "auth_realm",
        }
    ),
}
# What a carrier's outbound registration is made of (ps_registrations and the auth it uses)
REGISTRATION_COLUMNS = frozenset(
    {"name", "host", "port", "transport", "enabled", "register"}
    | {c for c in PUBLISHED["carriers"] if c.startswith("auth_")}
)
CARRIER_PREFIX = "carrier-"  # db.carriers.endpoint_id
# every identify (carriers' source addresses), held whole in memory (asterisk_conf/templates/
# sorcery.conf.j2): expired whole on any carrier change, the next request reads the list again
IDENTIFY_CACHE = "res_pjsip/identify"
_PENDING = "voip_realtime_cache"
AMI_TIMEOUT = 5.0


@dataclass
class _Pending:
    """What the session's transaction changed so far."""

    numbers: set[str] = field(default_factory=set)
    everything: bool = False  # a bulk UPDATE/DELETE: which rows it hit is not known
    inserted: list[object] = field(default_factory=list)  # new rows: no cache can hold them yet
    carriers: set[str] = field(default_factory=set)  # names, now and before a rename
    registrations: bool = False  # a carrier that registers (before or after) changed


def expire(settings: Settings, numbers: Collection[str] | None) -> bool:
    """Expire these virtual numbers' endpoint, auth and aor from Asterisk's caches (every
    cached object when `numbers` is None), so the next REGISTER or call reads the database.
    False when Asterisk could not be told (logged: it serves what it cached until told, or
    until `module reload res_pjsip.so` or a restart)."""
    if numbers is not None and not numbers:
        return True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _expire(settings, numbers)
    # AMISession runs a loop of its own, which cannot run in a thread that already runs one
    done: list[bool] = []
    worker = threading.Thread(target=lambda: done.append(_expire(settings, numbers)), daemon=True)
    worker.start()
    worker.join()
    return bool(done and done[0])


def _expire(settings: Settings, numbers: Collection[str] | None) -> bool:
    told = True
    for node in settings.asterisk_node_settings():
        try:
            with AMISession(node, timeout=AMI_TIMEOUT) as ami:
                for cache in CACHES:
                    if numbers is None:
                        ami.command(f"sorcery memory cache expire {cache}")
                    else:
                        for number in sorted(numbers):
                            ami.command(f"sorcery memory cache expire {cache} {number}")
        except AMIError as exc:
            # Asterisk not running has nothing cached; one running keeps what it cached
            log.warning(
                "asterisk not told of a realtime change",
                extra={
                    "node": node.asterisk_host,
                    "numbers": sorted(numbers) if numbers is not None else "all",
                    "error": str(exc),
                },
            )
            told = False
    return told


def refresh_carriers(settings: Settings, names: Collection[str], *, registrations: bool) -> bool:
    """Expire these carriers' endpoint, auth and aor from Asterisk's caches, and every cached
    identify (the next request reads them all again, so a new or disabled carrier is known by
    address, or not, at once); re-synchronize each one's qualify settings; with
    `registrations`, reload the outbound registrations. False when Asterisk could not be told
    (logged).

    A disabled or deleted carrier's objects are gone from Asterisk's caches, so a Dial to it
    fails at once, and its qualify stops (each qualify looks the endpoint up first); there is
    nothing to re-synchronize (the command fails, harmlessly)."""
    if not names and not registrations:
        return True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _refresh_carriers(settings, names, registrations)
    done: list[bool] = []
    worker = threading.Thread(
        target=lambda: done.append(_refresh_carriers(settings, names, registrations)), daemon=True
    )
    worker.start()
    worker.join()
    return bool(done and done[0])


def _refresh_carriers(settings: Settings, names: Collection[str], registrations: bool) -> bool:
    ids = [CARRIER_PREFIX + name for name in sorted(names)]
    told = True
    for node in settings.asterisk_node_settings():
        try:
            with AMISession(node, timeout=AMI_TIMEOUT) as ami:
                for cache in CACHES:
                    for object_id in ids:
                        ami.command(f"sorcery memory cache expire {cache} {object_id}")
                # always: a bulk UPDATE/DELETE of carriers comes here with no names
                ami.command(f"sorcery memory cache expire {IDENTIFY_CACHE}")
                for object_id in ids:
                    # fails (and says so) for a carrier no longer published: nothing to qualify
                    ami.command(f"pjsip reload qualify endpoint {object_id}", check=False)
                if registrations:
                    ami.command("module reload res_pjsip_outbound_registration.so")
        except AMIError as exc:
            log.warning(
                "asterisk not told of a carrier change",
                extra={
                    "node": node.asterisk_host,
                    "carriers": sorted(names),
                    "registrations": registrations,
                    "error": str(exc),
                },
            )
            told = False
    return told


def expire_on_commit(factory: sessionmaker[Session], settings: Settings) -> None:
    """After each commit of a session of `factory` that changed what Asterisk reads of a
    virtual number (its published columns, its account's status or language, a deleted row),
    expire that number's cached objects; likewise for a carrier (`refresh_carriers`). A bulk
    UPDATE or DELETE of those tables expires every cached object (and, for carriers, reloads
    the registrations). Raw SQL text is not seen: its writer calls `expire` itself."""

    def after_commit(session: Session) -> None:
        pending = session.info.pop(_PENDING, None)
        if not isinstance(pending, _Pending):
            return
        if pending.everything or pending.numbers:
            expire(settings, None if pending.everything else pending.numbers)
        if pending.carriers or pending.registrations:
            refresh_carriers(settings, pending.carriers, registrations=pending.registrations)

    event.listen(factory, "before_flush", _before_flush)
    event.listen(factory, "do_orm_execute", _on_execute)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_transaction_end", _after_transaction_end)


def _pending(session: Session) -> _Pending:
    pending = session.info.get(_PENDING)
    if not isinstance(pending, _Pending):
        pending = session.info[_PENDING] = _Pending()
    return pending


def _changed(obj: VirtualNumber | Account | Carrier, columns: frozenset[str]) -> bool:
    attrs = instance_state(obj).attrs
    return any(attrs[name].history.has_changes() for name in columns)


def _numbers_of(obj: VirtualNumber) -> Iterable[str]:
    """The number now and, when the row renumbered, the one it had."""
    history = instance_state(obj).attrs.number.history
    return {*history.added, *history.unchanged, *history.deleted}


def _values(obj: Carrier, column: str) -> set[Any]:
    """A carrier's value of `column` now and before this flush's change."""
    history = instance_state(obj).attrs[column].history
    return {*history.added, *history.unchanged, *history.deleted}


def _carrier_changed(pending: _Pending, obj: Carrier, *, whole: bool) -> None:
    """Note a carrier whose published columns changed (`whole`: it is new or deleted)."""
    if whole or _changed(obj, PUBLISHED["carriers"]):
        pending.carriers.update(_values(obj, "name"))
    if True in _values(obj, "register") and (whole or _changed(obj, REGISTRATION_COLUMNS)):
        pending.registrations = True


def _before_flush(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    pending = _pending(session)
    pending.inserted.extend(o for o in session.new if isinstance(o, VirtualNumber | Account))
    # a new carrier: nothing of it is cached, but Asterisk must start qualifying it
    for obj in session.new:
        if isinstance(obj, Carrier):
            _carrier_changed(pending, obj, whole=True)
    accounts: set[int] = set()
    for obj in session.dirty:
        if any(obj is new for new in pending.inserted):
            continue
        if isinstance(obj, VirtualNumber) and _changed(obj, PUBLISHED["virtual_numbers"]):
            pending.numbers.update(_numbers_of(obj))
        elif isinstance(obj, Account) and _changed(obj, PUBLISHED["accounts"]):
            accounts.add(obj.id)
        elif isinstance(obj, Carrier):
            _carrier_changed(pending, obj, whole=False)
    for obj in session.deleted:
        if isinstance(obj, VirtualNumber):
            pending.numbers.update(_numbers_of(obj))
        elif isinstance(obj, Account):
            accounts.add(obj.id)
        elif isinstance(obj, Carrier):
            _carrier_changed(pending, obj, whole=True)
    if accounts:
        with session.no_autoflush:
            query = select(VirtualNumber.number).where(VirtualNumber.account_id.in_(accounts))
            pending.numbers.update(session.scalars(query))


def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name in PUBLISHED:
        _pending(state.session).everything = True
    if name == "carriers":  # which carriers, and whether any registers, is not known
        _pending(state.session).registrations = True


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # a rolled-back transaction changed nothing (after_commit has taken a committed one's)
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
