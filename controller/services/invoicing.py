"""Invoices issued, drawn and emailed (issue 15), over db/invoices.py.

- `issue`: one account's month, with its PDF (the data floor does not draw PDFs);
- `issue_month`: every account due for a month, one transaction per account;
- `send_pending`: every invoice not emailed yet goes to its account's address with the PDF
  attached; each send records emailed_at, or email_error for a retry at the next round (a
  permanent refusal, or no address, is not retried until an operator asks again). The invoice
  row is locked while it is sent, so two senders never send one invoice twice, and sending
  never issues anything;
- `InvoiceTask`: the controller's periodic round (VOIP_INVOICE_CHECK_S): last month's invoices
  for the accounts whose month has ended in their time zone, then the pending emails. When
  nothing is due a round is two small queries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from controller.services import invoice_pdf, mailer
from controller.settings import Settings
from db import invoices
from db.errors import ServiceError
from db.models import Account, Invoice, User
from db.session import make_engine, session_factory, transaction

log = logging.getLogger("controller.services.invoicing")

# the periodic round issues a month this long after it ended in the account's time zone: a call
# still up at midnight is charged at its start (in the month) once it ends and is rated
ROUND_GRACE_S = 6 * 3600

Factory = sessionmaker[Session]


def renderer(settings: Settings) -> invoices.Renderer:
    def render(invoice: Invoice, account: Account) -> bytes:
        return invoice_pdf.render(settings, invoice, account)

    return render


def issue(
    session: Session,
    settings: Settings,
    account_id: int,
    year: int,
    month: int,
    *,
    now: dt.datetime | None = None,
    actor: User | None = None,
    remote_addr: str = "",
) -> Invoice:
    """db.invoices.issue with the PDF drawn (and drawn now for an old invoice that lacks it)."""
    invoice = invoices.issue(
        session,
        account_id,
        year,
        month,
        render=renderer(settings),
        now=now,
        actor=actor,
        remote_addr=remote_addr,
    )
    if invoice.pdf is None:  # the trigger lets a missing PDF be added, once
        account = session.get(Account, invoice.account_id)
        assert account is not None
        invoice.pdf = invoice_pdf.render(settings, invoice, account)
        session.flush()
    return invoice


@dataclass
class MonthResult:
    issued: list[str] = field(default_factory=list)  # invoice numbers
    failed: dict[int, str] = field(default_factory=dict)  # account id -> why


def issue_month(
    factory: Factory,
    settings: Settings,
    year: int,
    month: int,
    *,
    now: dt.datetime | None = None,
    account_ids: list[int] | None = None,
    actor_id: int | None = None,
    remote_addr: str = "",
    grace_s: float = 0,
) -> MonthResult:
    """Issue the month for every due account (or the given ones), each committed on its own."""
    now = now or dt.datetime.now(dt.UTC)
    if account_ids is None:
        with transaction(factory) as s:
            account_ids = invoices.due_accounts(s, year, month, now, grace_s=grace_s)
    result = MonthResult()
    for account_id in account_ids:
        try:
            with transaction(factory) as s:
                actor = s.get(User, actor_id) if actor_id else None
                invoice = issue(
                    s, settings, account_id, year, month, now=now, actor=actor, remote_addr=remote_addr
                )
                result.issued.append(invoice.number)
        except ServiceError as exc:
            result.failed[account_id] = str(exc)
        except Exception as exc:  # one account's trouble must not stop the others' invoices
            log.exception("invoice not issued", extra={"account_id": account_id})
            result.failed[account_id] = f"{exc.__class__.__name__}: {exc}"[:300]
    if result.issued or result.failed:
        log.info(
            "invoices issued",
            extra={
                "month": f"{year}-{month:02d}",
                "issued": len(result.issued),
                "failed": len(result.failed),
            },
        )
    return result


def message(settings: Settings, invoice: Invoice, account: Account) -> tuple[str, str]:
    """The email's subject and plain-text body."""
    month = invoice.period_start.strftime("%B %Y")
    name = " ".join(p for p in (account.first_name, account.last_name) if p) or "customer"
    subject = f"{settings.operator_name}: invoice {invoice.number} for {month}"
    body = (
        f"Dear {name},\n\n"
        f"Your statement for {month} is attached ({invoice.number}.pdf).\n\n"
        f"Opening balance:  {invoice_pdf.money(invoice.opening_balance)}\n"
        f"Credit bought:    {invoice_pdf.money(invoice.credit_bought)}\n"
        f"Adjustments:      {invoice_pdf.money(invoice.adjustments)}\n"
        f"Call charges:     {invoice_pdf.money(-invoice.charges)}\n"
        f"Plan fees:        {invoice_pdf.money(-invoice.plan_fees)}\n"
        f"Closing balance:  {invoice_pdf.money(invoice.closing_balance)}\n\n"
        f"Your invoices are also in your control panel: {settings.panel_base_url}/invoices/\n\n"
        f"{settings.operator_name}\n"
    )
    return subject, body


def email(settings: Settings, invoice: Invoice, account: Account) -> None:
    """Send the invoice with its PDF to the account's address; raises mailer.MailError."""
    if not account.email:
        raise mailer.BadMessage("the account has no email address")
    if invoice.pdf is None:
        raise mailer.BadMessage("the invoice has no PDF")
    subject, body = message(settings, invoice, account)
    mailer.send_mail_blocking(
        settings, account.email, subject, body, [(f"{invoice.number}.pdf", invoice.pdf, "application/pdf")]
    )


@dataclass
class EmailResult:
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # number -> error
    server_down: bool = False  # a transient failure: the rest waits for the next round


def send_one(
    factory: Factory, settings: Settings, invoice_id: int, result: EmailResult | None = None
) -> None:
    """Email one invoice if nobody has (row-locked while it is sent); record how it went."""
    result = result if result is not None else EmailResult()
    with transaction(factory) as s:
        invoice = invoices.lock_for_email(s, invoice_id)
        if invoice is None:
            return  # sent already, or being sent by another round
        account = s.get(Account, invoice.account_id)
        assert account is not None
        try:
            email(settings, invoice, account)
        except mailer.MailError as exc:
            error = f"{invoices.EMAIL_REJECTED if exc.permanent else ''}{exc}"[:300]
            invoices.record_email(s, invoice, sent_at=None, error=error)
            result.failed[invoice.number] = error
            result.server_down = result.server_down or not exc.permanent
            return
        invoices.record_email(s, invoice, sent_at=dt.datetime.now(dt.UTC))
        result.sent.append(invoice.number)


def send_pending(
    factory: Factory, settings: Settings, *, limit: int = 200, account_id: int | None = None
) -> EmailResult:
    with transaction(factory) as s:
        ids = invoices.pending_email(s, limit=limit, account_id=account_id)
    result = EmailResult()
    for invoice_id in ids:
        send_one(factory, settings, invoice_id, result)
        if result.server_down:  # the server is down or failing: no use trying every invoice now
            break
    if result.sent or result.failed:
        log.info("invoices emailed", extra={"sent": len(result.sent), "failed": len(result.failed)})
    return result


def run_due(
    factory: Factory, settings: Settings, now: dt.datetime | None = None
) -> tuple[MonthResult, EmailResult]:
    """One round: last month's invoices for accounts whose month is over, then the emails."""
    now = now or dt.datetime.now(dt.UTC)
    year, month = invoices.previous_month(now.date())
    issued = issue_month(factory, settings, year, month, now=now, grace_s=ROUND_GRACE_S)
    return issued, send_pending(factory, settings, limit=100_000)


class InvoiceTask:
    """The controller's periodic invoice round, in a worker thread on its own small pool (PDFs
    and SMTP must not hold the event loop that answers calls)."""

    def __init__(self, settings: Settings, interval: float | None = None, engine: Engine | None = None):
        self.settings = settings
        self.interval = float(settings.invoice_check_s if interval is None else interval)
        self._engine = engine
        self._own_engine = engine is None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self.rounds = 0

    def start(self) -> None:
        if self.interval <= 0:
            return
        if self._task is None or self._task.done():
            if self._engine is None:
                self._engine = make_engine(self.settings, pool_size=1, max_overflow=1)
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="invoices")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 30)
            except TimeoutError:
                self._task.cancel()
            self._task = None
        if self._own_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None

    async def round(self) -> tuple[MonthResult, EmailResult]:
        assert self._engine is not None
        factory = session_factory(self._engine)
        result = await asyncio.to_thread(run_due, factory, self.settings)
        self.rounds += 1
        return result

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.round()
            except Exception as exc:
                log.warning("invoice round failed", extra={"error": repr(exc)[:300]})
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass
