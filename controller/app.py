"""The controller process, wired in one place: FastAGI server, ARI client, AMI link, database,
health check. Dependencies are built here and handed to the parts through constructors."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import text

from agi.outbound import routing_cache
from agi.routes import ROUTES
from agi.server import FastAGIServer, Route
from ari_apps import build_apps
from ari_apps.base import Dispatcher
from controller.services import heap
from controller.services.ami import AMILink
from controller.services.ari import ARIClient
from controller.services.carrier_qualify import CarrierQualifier
from controller.services.carrier_watch import CarrierWatch
from controller.services.deps import Deps
from controller.services.holds import HoldSweeper
from controller.services.invoicing import InvoiceTask
from controller.services.metrics import MetricsServer
from controller.services.notifications import NotificationTask
from controller.services.plain_http import serve_one
from controller.services.rater import run_rater
from controller.services.registrations import RegistrationRecorder
from controller.services.webhooks import WebhookSender
from controller.settings import SIM_PSTN_DIAL, Settings
from db.hotpath import HotDB
from db.session import async_session_factory, make_async_engine

log = logging.getLogger("controller")

ROUTING_LOAD_WAIT = 30.0  # seconds the start waits for the routing table (issue 14)


def warm_up() -> None:
    """Load what the first calls would load (phonenumbers' North American metadata), then
    settle the heap (controller/services/heap.py) before the first call."""
    from controller.rules.numbers import classify

    classify("12125550100", caller_number="13125550100")
    heap.settle()


def make_sweeper(ctl: Controller) -> HoldSweeper:
    """The hold sweeper and extender (controller/services/holds.py) on the controller's links."""
    s = ctl.settings
    return HoldSweeper(
        ctl.ami,
        ctl.db,
        interval=s.hold_sweep_s,
        grace=s.hold_orphan_grace_s,
        pg=ctl.pg,
        slice_seconds=s.hold_slice_s,
        extend_before=s.hold_extend_before_s,
        settings=s,
    )


class Controller:
    def __init__(self, settings: Settings, routes: dict[str, Route] | None = None):
        self.settings = settings
        self.db_engine = make_async_engine(settings, pool_size=10, max_overflow=20)
        self.db = async_session_factory(self.db_engine)
        self.pg = HotDB(settings)
        self.ari = ARIClient(
            settings.ari_base_url, settings.ari_user, settings.ari_password, settings.ari_app
        )
        self.ami = AMILink(settings)
        self.deps = Deps(settings=settings, db=self.db, pg=self.pg, ami=self.ami, ari=self.ari)
        self.agi = FastAGIServer(routes if routes is not None else ROUTES, self.deps)
        self.stasis = Dispatcher(self.deps, build_apps(self.deps))
        self._health: asyncio.AbstractServer | None = None
        self._rater_stop = asyncio.Event()
        self._rater: asyncio.Task | None = None
        # issue 13: holds whose call is gone are released within seconds
        self.holds = make_sweeper(self)
        # issue 14: a carrier silent past its setup time is hung up, so the next one is tried
        self.carrier_watch = CarrierWatch(self.ami)
        # issue 14: carriers are qualified here (Asterisk does not qualify realtime carriers)
        self.carrier_qualify = CarrierQualifier(self.pg, routing_cache(self.deps).set_down)
        # issue 15: last month's invoices issued and emailed (idempotent; cheap when none is due)
        self.invoices = InvoiceTask(settings)
        # issue 16: notification emails (missed calls, voicemail retries, low balance, weekly)
        self.notifications = NotificationTask(settings)
        # issue 15: webhook deliveries queued by the outbox triggers, signed and retried
        self.webhooks = WebhookSender(self.db_engine, settings)
        # issue 16: why a phone does not register (AMI security events -> registration_events)
        self.registrations = RegistrationRecorder(self.ami, self.pg)
        # issue 17: Prometheus metrics on their own port (VOIP_METRICS_PORT, 0: off)
        self.metrics = MetricsServer(self.deps, lambda: self.agi.active)
        self.stopped = asyncio.Event()

    async def start(self) -> None:
        await self.pg.open()
        # issue 14: the routing table loads before the first call is taken (a big one takes
        # seconds, and a call waits at most DB_TIMEOUT before failing closed); a database that
        # does not answer does not hold the start up past ROUTING_LOAD_WAIT
        load = routing_cache(self.deps).preload()
        await asyncio.wait({load}, timeout=ROUTING_LOAD_WAIT)
        if self.settings.pstn_dial == SIM_PSTN_DIAL:
            log.warning(
                "the default trunk is the SIMULATED PSTN: 911 and every call no carrier takes go"
                " there (set VOIP_PSTN_TRUNK_HOST or VOIP_PSTN_DIAL for a real trunk)"
            )
        await self.agi.start(self.settings.agi_bind, self.settings.agi_port)
        self.ari.start()
        await self.stasis.start()
        self.ami.connect()
        self.registrations.start()
        self.carrier_watch.start()
        self.carrier_qualify.start()
        # CDRs are rated as they arrive (LISTEN cdr_new), with a polling fallback
        if self.settings.rater.strip().lower() not in ("off", "no", "0", "false"):
            self._rater = asyncio.create_task(run_rater(self.db_engine, self._rater_stop), name="rater")
        if self.settings.hold_sweep_s > 0:
            self.holds.start()
        self.invoices.start()  # issue 15 (VOIP_INVOICE_CHECK_S=0: off)
        self.notifications.start()  # issue 16 (VOIP_NOTIFY_CHECK_S=0: off)
        self.webhooks.start()
        self._health = await asyncio.start_server(
            self._health_handler, self.settings.agi_bind, self.settings.health_port
        )
        if self.settings.metrics_port:
            await self.metrics.start(self.settings.metrics_bind, self.settings.metrics_port)
        warm_up()
        log.info(
            "controller started",
            extra={"agi_port": self.settings.agi_port, "health_port": self.settings.health_port},
        )

    async def stop(self) -> None:
        log.info("controller stopping")
        if self._health:
            self._health.close()
        await self.metrics.stop()
        await self.agi.stop()
        await self.stasis.stop()
        await self.holds.stop()
        await self.carrier_watch.stop()
        await self.carrier_qualify.stop()
        await self.invoices.stop()
        await self.notifications.stop()
        await self.webhooks.stop()
        await self.registrations.stop()
        self._rater_stop.set()
        if self._rater:
            try:
                await asyncio.wait_for(self._rater, 10)
            except TimeoutError:
                self._rater.cancel()
        await self.ari.close()
        self.ami.close()
        await self.pg.close()
        await self.db_engine.dispose()
        self.stopped.set()
        log.info("controller stopped")

    async def health(self) -> dict[str, Any]:
        db_ok = True
        try:
            async with self.db() as s:
                await asyncio.wait_for(s.execute(text("SELECT 1")), 2)
        except Exception:
            db_ok = False
        status = {
            "database": db_ok,
            "ami": self.ami.connected,
            "ari": self.ari.connected.is_set(),
            "agi": {"active": self.agi.active, "handled": self.agi.handled, "failed": self.agi.failed},
        }
        status["ok"] = db_ok and status["ami"] and status["ari"]
        return status

    async def _health_handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_one(reader, writer, self._health_answer)

    async def _health_answer(self, path: bytes) -> tuple[str, str, bytes]:
        if path != b"/healthz":
            return "404 Not Found", "application/json", b'{"error": "not found"}'
        status = await self.health()
        code = "200 OK" if status["ok"] else "503 Service Unavailable"
        return code, "application/json", json.dumps(status).encode()
