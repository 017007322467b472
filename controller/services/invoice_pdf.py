"""An invoice as a PDF (issue 15), drawn with ReportLab: the operator's letterhead, the account
holder, the number and period, the month's totals, then every ledger line with its running
balance; long statements run over pages, each numbered "Page n of N".

Pure: it reads the invoice's stored figures and lines and returns bytes; nothing is queried.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from controller.settings import Settings
from db.models import Account, Invoice

CENTS = Decimal("0.01")
FONT_DIR = "/usr/share/fonts/truetype/dejavu"
KIND_LABELS = {
    "voucher": "Voucher",
    "payment": "Payment",
    "admin": "Credit (operator)",
    "demo": "Demo credit",
    "charge": "Call",
    "plan_fee": "Plan fee",
    "credit": "Manual credit",
    "debit": "Manual debit",
    "refund": "Refund",
}

CHUNK_ROWS = 200  # statement lines per table (see render)
LATE_NOTE = "dated before this period, on no earlier invoice"

# a font for what DejaVu Sans lacks (Chinese, Japanese, Korean...): Debian's fonts-droid-fallback
FALLBACK_FONT = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"

_fonts: tuple[str, str] | None = None
_covered: frozenset[int] | None = None  # the code points the regular font draws (None: any)
_fallback: str | None = None  # the fallback font's name, when installed


def fonts() -> tuple[str, str]:
    """(regular, bold): DejaVu Sans when installed (any name, any script it covers, and what it
    lacks in FALLBACK_FONT when that is installed), else the PDF's built-in Helvetica (Latin-1
    only)."""
    global _fonts, _covered, _fallback
    if _fonts is None:
        regular, bold = f"{FONT_DIR}/DejaVuSans.ttf", f"{FONT_DIR}/DejaVuSans-Bold.ttf"
        if os.path.exists(regular) and os.path.exists(bold):
            font = TTFont("InvoiceSans", regular)
            pdfmetrics.registerFont(font)
            pdfmetrics.registerFont(TTFont("InvoiceSans-Bold", bold))
            if os.path.exists(FALLBACK_FONT):
                pdfmetrics.registerFont(TTFont("InvoiceFallback", FALLBACK_FONT))
                _covered = frozenset(font.face.charToGlyph)
                _fallback = "InvoiceFallback"
            _fonts = ("InvoiceSans", "InvoiceSans-Bold")
        else:
            _fonts = ("Helvetica", "Helvetica-Bold")
    return _fonts


def drawable(text: str) -> bool:
    """Whether the regular font draws every character of `text` (a plain table cell may hold it)."""
    fonts()
    return _covered is None or _fallback is None or all(ord(c) in _covered or c.isspace() for c in text)


def marked(text: str) -> str:
    """`text` as Paragraph markup: escaped (a name like "<b>Evil & Co" is drawn as typed), and the
    runs of characters the regular font lacks set in the fallback font."""
    if drawable(text):
        return escape(text)
    covered = _covered or frozenset()
    out: list[str] = []
    for char in text:
        lacking = not (ord(char) in covered or char.isspace())
        piece = escape(char)
        if lacking and out and out[-1].endswith("</font>"):  # extend the run of fallback text
            out[-1] = out[-1][: -len("</font>")] + piece + "</font>"
        else:
            out.append(f'<font name="{_fallback}">{piece}</font>' if lacking else piece)
    return "".join(out)


def money(value: Decimal | str | int) -> str:
    """$1,234.56; four places when the amount has finer digits (rates and credit are kept to 4)."""
    amount = Decimal(value)
    if amount != amount.quantize(CENTS):
        amount = amount.quantize(Decimal("0.0001"))
    else:
        amount = amount.quantize(CENTS)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,}"


def holder_lines(account: Account) -> list[str]:
    name = " ".join(p for p in (account.first_name, account.last_name) if p)
    city = " ".join(p for p in (account.city, account.state, account.postal_code) if p)
    lines = [name, account.company, account.address1, account.address2, city, account.country, account.email]
    return [line for line in lines if line] or [f"Account {account.id}"]


def _local(at: str, zone: ZoneInfo) -> str:
    try:
        return dt.datetime.fromisoformat(at).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return str(at)


def _numbered_canvas(label: str, font: str) -> type:
    """A canvas that writes "Page n of N" at the foot of every page once the total is known."""

    class NumberedCanvas(canvas.Canvas):  # type: ignore[misc]  # reportlab has no type hints
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802  (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(font, 8)
                self.setFillColor(colors.grey)
                self.drawString(18 * mm, 10 * mm, label)
                self.drawRightString(LETTER[0] - 18 * mm, 10 * mm, f"Page {self._pageNumber} of {total}")
                super().showPage()
            super().save()

    return NumberedCanvas


def render(settings: Settings, invoice: Invoice, account: Account) -> bytes:
    """The invoice's PDF."""
    regular, bold = fonts()
    zone = ZoneInfo(invoice.time_zone)
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["Normal"], fontName=regular, fontSize=9.5, leading=12)
    head = ParagraphStyle("head", parent=body, fontName=bold, fontSize=16, leading=20)
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10)

    def para(lines: list[str], style: ParagraphStyle) -> Paragraph:
        return Paragraph("<br/>".join(marked(line) for line in lines), style)

    operator = [settings.operator_name] + [
        line.strip() for line in settings.operator_address.split("|") if line.strip()
    ]
    last_day = invoice.period_end - dt.timedelta(days=1)
    period = f"{invoice.period_start:%Y-%m-%d} to {last_day:%Y-%m-%d} ({invoice.time_zone})"
    issued = invoice.issued_at.astimezone(zone).strftime("%Y-%m-%d")
    story: list[Any] = [
        Table(
            [
                [
                    para(operator, body),
                    para(
                        [
                            "Invoice",
                            invoice.number,
                        ],
                        ParagraphStyle("no", parent=head, alignment=TA_RIGHT),
                    ),
                ]
            ],
            colWidths=["55%", "45%"],
            style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]),
        ),
        Spacer(1, 8 * mm),
        Table(
            [
                [
                    para(["Bill to"] + holder_lines(account) + [f"Account {account.id}"], body),
                    para(
                        [f"Invoice number: {invoice.number}", f"Period: {period}", f"Issued: {issued}"],
                        right,
                    ),
                ]
            ],
            colWidths=["50%", "50%"],
            style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]),
        ),
        Spacer(1, 8 * mm),
    ]
    totals = [
        ["Opening balance", money(invoice.opening_balance)],
        ["Credit bought", money(invoice.credit_bought)],
        ["    of which payments", money(invoice.payments)],
        ["Adjustments (manual credit, debit, refund)", money(invoice.adjustments)],
        ["Call charges", money(-invoice.charges)],
        ["Plan fees", money(-invoice.plan_fees)],
        ["Closing balance", money(invoice.closing_balance)],
    ]
    story.append(
        Table(
            totals,
            colWidths=[110 * mm, 40 * mm],
            hAlign="LEFT",
            style=TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), regular, 9.5),
                    ("FONT", (0, -1), (-1, -1), bold, 10),
                    ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                    ("TEXTCOLOR", (0, 2), (-1, 2), colors.grey),
                    ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
                ]
            ),
        )
    )
    story.append(Spacer(1, 8 * mm))
    rows: list[list[Any]] = [["Date", "Description", "Amount", "Balance"]]
    fits = 90 * mm - 12  # the description column less its padding: a line that fits is a plain
    # cell, drawn as text; a longer one a Paragraph, which wraps (and costs ten times more)
    for line in invoice.lines:
        label = KIND_LABELS.get(str(line.get("kind", "")), str(line.get("kind", "")))
        text = str(line.get("description") or label)
        if line.get("late"):  # e.g. a call rated after its month was invoiced
            text += f" ({LATE_NOTE})"
        rows.append(
            [
                _local(str(line.get("at", "")), zone),
                text
                if drawable(text) and pdfmetrics.stringWidth(text, regular, 8) <= fits
                else Paragraph(marked(text), small),
                money(line.get("amount", "0")),
                money(line.get("balance", "0")),
            ]
        )
    if len(rows) == 1:
        story.append(para(["No activity in this period."], body))
    # one Table per CHUNK_ROWS lines: ReportLab re-measures a table's rest at every page break,
    # so a single table of n lines costs about n^2 (20,000 lines took over a minute)
    style = TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), regular, 8),
            ("FONT", (0, 0), (-1, 0), bold, 8),
            ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f3f4f6")]),
        ]
    )
    for first in range(1, len(rows), CHUNK_ROWS):
        story.append(
            Table(
                rows[:1] + rows[first : first + CHUNK_ROWS],
                colWidths=[30 * mm, 90 * mm, 27 * mm, 27 * mm],
                repeatRows=1,
                style=style,
            )
        )
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=f"Invoice {invoice.number}",
        author=settings.operator_name,
        subject=f"Statement {period}",
        invariant=1,  # the same invoice gives the same bytes (no creation date, fixed ids)
    )
    doc.build(story, canvasmaker=_numbered_canvas(f"{settings.operator_name} · {invoice.number}", regular))
    return buffer.getvalue()
