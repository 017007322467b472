"""What the date-range reports share (Call History, Missed Calls): the member's local days,
the Start/End form, keyset cursors, and CSV export.

A day is the member's day (issue 6): Start and End are dates in the account's time zone, and
the range covers [local midnight of Start, local midnight after End) converted to UTC, which
is how the CDRs' timestamps are stored. A call at 23:30 in New York on March 1st belongs to
March 1st even though it is March 2nd in UTC.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Response, stream_with_context
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import DateField
from wtforms.validators import ValidationError

from webpanel import choices
from webpanel.filters import UTC, account_zone, zone
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l

DEFAULT_DAYS = 30  # a report opens on the last 30 local days, today included
MAX_DAYS = 366  # one report covers at most a year (and a leap day)
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2099, 12, 31)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def member_zone_name() -> str:
    """The account's time zone if PostgreSQL and Python both know it, else UTC."""
    name = account_zone()
    return name if name in choices.time_zone_set() else "UTC"


def local_today(tz: dt.tzinfo, now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(UTC)).astimezone(tz).date()


def local_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The UTC instant a local day starts (on a day whose midnight a DST change skips, the
    instant the clocks jumped: fold=0 keeps the offset from before the change)."""
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class DateRange:
    start: dt.date  # first local day
    end: dt.date  # last local day, included
    tz_name: str

    @property
    def tz(self) -> dt.tzinfo:
        return zone(self.tz_name)

    @property
    def utc_start(self) -> dt.datetime:
        return local_midnight(self.start, self.tz)

    @property
    def utc_end(self) -> dt.datetime:
        """Exclusive: the start of the local day after End."""
        return local_midnight(self.end + dt.timedelta(days=1), self.tz)

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def args(self) -> dict[str, Any]:  # Any: what url_for(**args) takes
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


class LocalDateField(DateField):
    """A year-month-day date (what <input type="date"> sends), with a message that says so."""

    def process_formdata(self, valuelist):
        raw = (valuelist[0] if valuelist else "").strip()
        if not raw:
            self.data = None
            return
        self.data = None
        if _ISO_DATE.match(raw):
            try:
                self.data = dt.date.fromisoformat(raw)
                return
            except ValueError:
                pass
        raise ValueError(
            _("Enter the %(field)s date as year-month-day, such as 2026-03-01.", field=self.label.text)
        )


class DateRangeForm(FlaskForm):
    """Select a date range to report on. A GET form: it changes nothing, so no CSRF token."""

    class Meta:
        csrf = False

    start = LocalDateField(_l("Start"), render_kw={"min": EARLIEST.isoformat(), "max": LATEST.isoformat()})
    end = LocalDateField(_l("End"), render_kw={"min": EARLIEST.isoformat(), "max": LATEST.isoformat()})

    def validate_start(self, field):
        if field.data is not None and not EARLIEST <= field.data <= LATEST:
            raise ValidationError(
                _(
                    "Choose a Start date between %(earliest)s and %(latest)s.",
                    earliest=EARLIEST,
                    latest=LATEST,
                )
            )

    def validate_end(self, field):
        if field.data is None:
            return
        if not EARLIEST <= field.data <= LATEST:
            raise ValidationError(
                _("Choose an End date between %(earliest)s and %(latest)s.", earliest=EARLIEST, latest=LATEST)
            )
        if self.start.data is not None:
            if field.data < self.start.data:
                raise ValidationError(_("The End date is before the Start date."))
            if (field.data - self.start.data).days + 1 > MAX_DAYS:
                raise ValidationError(_("Choose a range of at most %(days)s days.", days=MAX_DAYS))

    def date_range(self, tz_name: str, now: dt.datetime | None = None) -> DateRange:
        """The chosen range; a missing End is today, a missing Start the DEFAULT_DAYS before End.
        Call after validate()."""
        today = min(local_today(zone(tz_name), now), LATEST)
        span = dt.timedelta(days=DEFAULT_DAYS - 1)
        start, end = self.start.data, self.end.data
        if end is None:
            end = today if start is None else min(start + span, max(today, start), LATEST)
        if start is None:
            start = max(end - span, EARLIEST)
        self.start.data, self.end.data = start, end
        return DateRange(start, end, tz_name)


def form_errors(form: FlaskForm) -> list[str]:
    return [m for messages in form.errors.values() for m in messages]


# --- keyset cursors ----------------------------------------------------------------------

_CURSOR = re.compile(r"^(-?\d{1,17})\.(\d{1,19})$")
_BIGINT = 2**63 - 1


def encode_cursor(start: dt.datetime, row_id: int) -> str:
    """A row's (start, id) as '<microseconds since 1970>.<id>': the page links carry the
    key itself, so no lookup (and no other account's row) is needed to resolve it."""
    micros = (start.astimezone(UTC) - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}.{row_id}"


def decode_cursor(value: str) -> tuple[dt.datetime, int] | None:
    match = _CURSOR.match(value or "")
    if not match or int(match.group(2)) > _BIGINT:
        return None
    try:
        start = _EPOCH + dt.timedelta(microseconds=int(match.group(1)))
    except OverflowError:
        return None
    return start, int(match.group(2))


# --- CSV -----------------------------------------------------------------------------------

_PHONE = re.compile(r"\+?[0-9]+")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP's CSV injection advice); a
    phone number such as +442071234567 stays as it is, and so does a number (a negative
    margin is -0.1000, not the text '-0.1000)."""
    text = "" if value is None else str(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return text
    if text and text[0] in "=+-@\t\r" and not _PHONE.fullmatch(text):
        return "'" + text
    return text


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[object]], chunk: int = 500) -> Iterator[str]:
    """CSV text in chunks of `chunk` rows, for a streamed download."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(list(header))
    n = 0
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
        n += 1
        if n % chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_download(
    header: Iterable[str], rows: Iterable[Iterable[object]], filename: str, session: Session
) -> Response:
    """A streamed CSV attachment whose rows are read from `session` while it streams. The
    request's teardown closes its session before the stream runs, and the rows' query opens a
    connection again on it: closed here when the stream ends (else it stays checked out until
    the garbage collector finds it)."""

    def body() -> Iterator[str]:
        try:
            yield from csv_lines(header, rows)
        finally:
            session.close()

    return Response(
        stream_with_context(body()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
