"""Icons are inline SVGs (templates/_icons.html), not emoji: the same drawing on every system,
coloured like the text, allowed by the CSP (no style attributes), hidden from screen readers,
and every button or link that shows one keeps its own name (aria-label or visible text)."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

from controller.services.voicemail import mwi
from controller.services.voicemail import service as voicemail
from db.models import Buddy, Conference, Fax
from db.session import transaction
from tests.support.realparts import unique_number
from tests.voicemail.helpers import wav

from .conftest import page, sign_in

WEBPANEL = Path(__file__).resolve().parents[2] / "webpanel"
# emoji and the symbol blocks they come from (misc technical ⏮, misc symbols/dingbats 🗑 ✔,
# arrows-and-symbols ⬇, the emoji planes), as characters or as HTML character references
PICTOGRAPH = re.compile(r"[\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff\ufe0f]")
REFERENCE = re.compile(r"&#(x[0-9a-fA-F]+|[0-9]+);")


def _pictographs(text: str) -> list[str]:
    found = PICTOGRAPH.findall(text)
    for ref in REFERENCE.findall(text):
        ch = chr(int(ref[1:], 16) if ref[0] in "xX" else int(ref))
        if PICTOGRAPH.match(ch):
            found.append(ch)
    return found


def test_no_template_or_script_uses_an_emoji_as_an_icon():
    files = [
        p
        for p in WEBPANEL.rglob("*")
        if p.suffix in (".html", ".js", ".css", ".py") and "translations" not in p.parts
    ]
    used = {str(p.relative_to(WEBPANEL)): _pictographs(p.read_text(encoding="utf-8")) for p in files}
    assert {name: chars for name, chars in used.items() if chars} == {}


class _Icons(HTMLParser):
    """Each <svg class="icon ..."> with the name of the button/link/span it is in."""

    CONTROLS = ("button", "a", "span")

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict] = []  # open controls: tag, attrs, text
        self.icons: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.CONTROLS:
            self.stack.append({"tag": tag, "attrs": attrs, "text": ""})
        if tag == "svg" and "icon" in (attrs.get("class") or "").split():
            self.icons.append({"svg": attrs, "in": self.stack[-1] if self.stack else None})
        if tag in ("path", "rect", "circle", "svg") and "style" in attrs:
            raise AssertionError(f"style attribute on <{tag}>: the CSP refuses it")

    def handle_endtag(self, tag):
        if tag in self.CONTROLS and self.stack:
            done = self.stack.pop()
            if self.stack:
                self.stack[-1]["text"] += done["text"]

    def handle_data(self, data):
        if self.stack:
            self.stack[-1]["text"] += data


def _icons(html: str) -> list[dict]:
    parser = _Icons()
    parser.feed(html)
    return parser.icons


def _name(control: dict) -> str:
    attrs = control["attrs"]
    return (attrs.get("aria-label") or control["text"] or attrs.get("title") or "").strip()


def test_icons_on_the_panel_pages_are_svg_with_a_named_control(client, make_member, factory):
    member = make_member()
    with transaction(factory) as s:
        voicemail.store_message(
            s,
            member.virtual_number_id,
            audio=wav(1.0, 440),
            duration_seconds=1.0,
            caller_name="Caller",
            caller_number="13125550000",
            notify=mwi.queue_mwi,
        )
        s.add(Buddy(user_id=member.user_id, name="Grace", virtual_number="17005550999", pstn_phone=""))
        s.add(
            Fax(
                account_id=member.account_id,
                status="received",
                caller_number="14155550100",
                pages=1,
                bytes=100,
                pdf=b"%PDF-1.4\n%%EOF\n",
                received_at=dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC),
            )
        )
        s.add(
            Conference(
                account_id=member.account_id,
                admin_pin=unique_number()[-8:],
                admin_phone=member.number,
                starts_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3),
                duration_minutes=60,
            )
        )
    sign_in(client, member)

    expected = {  # page -> icons it shows (the voicemail player's, the Delete buttons, the sidebar's phone)
        f"/voicemail/{member.number}/": {
            "previous",
            "play",
            "pause",
            "stop",
            "next",
            "download",
            "record",
            "save",
            "trash",
            "phone",
        },
        "/buddies/": {"trash", "phone"},
        "/faxes/": {"document", "trash", "phone"},
        "/conference/": {"trash", "phone"},
    }
    for url, names in expected.items():
        html = page(client, url)
        assert not _pictographs(html), url
        icons = _icons(html)
        shown = {cls.removeprefix("icon-") for i in icons for cls in i["svg"]["class"].split()}
        shown -= {"icon", "solid", "line"}
        assert shown == names, (url, shown)
        for i in icons:
            assert i["svg"].get("aria-hidden") == "true" and i["svg"].get("focusable") == "false", (url, i)
            assert i["svg"].get("viewbox") == "0 0 24 24"
            assert i["in"] is not None and _name(i["in"]), (url, i)
    player = page(client, f"/voicemail/{member.number}/")
    for element_id in (
        "vm-prev",
        "vm-play",
        "vm-pause",
        "vm-stop",
        "vm-next",
        "vm-download",
        "vm-record",
        "vm-save",
        "vm-delete",
    ):  # the ids the player's script and the browser tests use
        assert f'id="{element_id}"' in player, element_id
