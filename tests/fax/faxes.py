"""Fax test material: TIFF-F pages made with Pillow, fax DIDs, PDF inspection, and the PSTN's
fax machines of the test instance (asterisk_conf/templates/test/pjsip_test.conf)."""

from __future__ import annotations

import io
import re

from PIL import Image, ImageDraw

from db.models import Did
from tests.support.members import make_member
from tests.support.realparts import unique_number

# SIP endpoints that place a call from the carrier's address and SendFAX once answered
FAX_MACHINE_AUDIO = "voip-test-fax-audio"  # no T.38: refuses the re-INVITE, sends G.711 audio
FAX_MACHINE_T38 = "voip-test-fax-t38"  # accepts T.38
CARRIER_ENDPOINT = "voip-test-carrier"  # what the platform sees them come in on (from-pstn)

FAX_WIDTH = 1728  # pixels on a fax line (ITU-T T.4, A4/Letter)
FINE_DPI = (204, 196)  # "fine" resolution
PAGE_LINES = 1100  # half a page at fine resolution: keeps the transfer short


def fax_pages(count: int = 2) -> list[Image.Image]:
    pages = []
    for n in range(1, count + 1):
        page = Image.new("1", (FAX_WIDTH, PAGE_LINES), 1)  # white
        draw = ImageDraw.Draw(page)
        draw.rectangle((40, 40, FAX_WIDTH - 40, PAGE_LINES - 40), outline=0, width=4)
        for i in range(n):  # page n carries n bars, so pages are told apart
            draw.rectangle((100 + i * 120, 200, 180 + i * 120, 700), fill=0)
        draw.text((100, 100), f"voip-platform fax test page {n} of {count}", fill=0)
        pages.append(page)
    return pages


def tiff_f(count: int = 2, compression: str = "group3") -> bytes:
    """A multi-page TIFF-F: 1728 px wide, 1 bit, T.4 (group3) or T.6 (group4), 204x196 dpi."""
    pages = fax_pages(count)
    out = io.BytesIO()
    pages[0].save(
        out, format="TIFF", save_all=True, append_images=pages[1:], compression=compression, dpi=FINE_DPI
    )
    return out.getvalue()


def pdf_page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", pdf))


def make_fax_did(factory, settings, email: str | None = "member@example.com") -> tuple[str, int, int]:
    """A member with a DID connected to Fax to Email: (DID digits, account id, DID id)."""
    member = make_member(factory, settings)
    number = unique_number("1415")
    with factory() as s, s.begin():
        did = Did(account_id=member.account_id, number=number, connection="fax_to_email", fax_email=email)
        s.add(did)
        s.flush()
        return number, member.account_id, did.id
