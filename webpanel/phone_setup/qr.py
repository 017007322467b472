"""Issue 16: what a softphone scans to set itself up (segno QR codes).

There is no one provisioning format every softphone reads (Linphone fetches a remote XML,
Zoiper and Acrobits have their own), but a `sip:` URI is what they all understand as an
account, and most fill the user, the domain, the port and the transport from it:

    sip:17005550001@sip.example.com:5060;transport=udp

The panel keeps only an MD5 digest of the SIP password (ps_auths), so this QR code carries no
password; the phone asks for it. Right after the member sets a new SIP password (the one
response that shows it) the page offers a second code with the password in the URI's userinfo
(RFC 3261's `user:password@`, which softphones read on import): made for that response, never
stored or served by any other URL.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from urllib.parse import quote

import segno
from markupsafe import Markup


@dataclass(frozen=True)
class Account:
    server: str
    port: int
    transport: str  # "udp", "tcp"
    realm: str
    user: str

    def uri(self, password: str | None = None) -> str:
        secret = f":{quote(password, safe='')}" if password else ""
        return f"sip:{quote(self.user, safe='')}{secret}@{self.server}:{self.port};transport={self.transport}"


def svg(content: str, title: str) -> Markup:
    """The QR code of `content` as inline SVG (scales with its box: a viewBox, no size)."""
    code = segno.make(content, error="m", micro=False)
    return Markup(code.svg_inline(scale=4, border=4, omitsize=True, title=title, svgclass="qr-code"))


@functools.lru_cache(maxsize=2048)
def account_svg(content: str, title: str) -> Markup:
    """svg() of an account's code without a password (a few ms of segno per code: made once per
    process). A code with a password never goes through here: it is not kept."""
    return svg(content, title)


@functools.lru_cache(maxsize=256)
def png(content: str) -> bytes:
    """An account's code (no password) as PNG."""
    out = io.BytesIO()
    segno.make(content, error="m", micro=False).save(out, kind="png", scale=8, border=4)
    return out.getvalue()
