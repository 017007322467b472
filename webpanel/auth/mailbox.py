"""Work the panel does after answering: "Forgot password" requests and the emails they send.

"Forgot password" must answer alike, and about as fast, whether or not an account matched.
So the request only counts itself against the per-address limit and queues the rest here: a
small thread pool looks the login up, makes the link and hands the email to controller.services.mailer
(retries with backoff, MailError on failure, logged), none of which the requester waits for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from controller.services import mailer
from controller.settings import Settings

log = logging.getLogger("webpanel.mail")

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="panel-background")
_pending: set[Future] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class Outgoing:
    to: str
    subject: str
    body: str


def send(settings: Settings, mails: list[Outgoing]) -> None:
    """Send now (from a background job); a failure is logged, the others still go."""
    for mail in mails:
        try:
            mailer.send_mail_blocking(settings, mail.to, mail.subject, mail.body)
        except mailer.MailError as exc:  # the mailer logged the details
            log.error("panel email not sent", extra={"subject": mail.subject, "error": str(exc)[:200]})


def later(job: Callable[..., None], *args) -> Future:
    """Run `job(*args)` in the background; its exceptions are logged, never raised."""

    def run() -> None:
        try:
            job(*args)
        except Exception:
            log.exception("panel background job failed", extra={"job": getattr(job, "__name__", "?")})

    future = _pool.submit(run)
    with _lock:
        _pending.add(future)
    future.add_done_callback(_done)
    return future


def _done(future: Future) -> None:
    with _lock:
        _pending.discard(future)


def drain(timeout: float = 30.0) -> bool:
    """Wait for the queued jobs (tests; a clean shutdown). True when none is left."""
    with _lock:
        pending = set(_pending)
    done, not_done = wait(pending, timeout=timeout)
    return not not_done
