"""Issue 13: the IP allow-list of a number's SIP credential (the form, its strict parsing, the
audited write). Kept apart from forms.py and services.py, which other parts of the page share.

The list is published to Asterisk as the endpoint's source-address ACL (migration 0019): a
REGISTER or call from elsewhere is refused even with the right password. The panel's sessions
expire the number's cached endpoint after the commit (controller/services/realtime_cache.py), so
the change is live at once, without a reload.
"""

from __future__ import annotations

import ipaddress
import re

from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import SubmitField, TextAreaField
from wtforms.validators import Length, ValidationError

from db.audit import audit
from db.errors import ServiceError
from db.models import User, VirtualNumber
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l

SIP_ALLOWLIST_MAX = 20  # networks per number (the column holds 20 IPv6 CIDRs)


def parse_sip_allowlist(text: str) -> str | None:
    """The networks a member typed (commas, spaces or lines between them) in canonical CIDR
    form, comma separated, as the endpoint's `permit` publishes them; None when empty (any
    address). A bare address is that one address (/32, /128). Raises ValidationError with a
    message naming the entry that is wrong."""
    entries = [e for e in re.split(r"[\s,;]+", text or "") if e]
    networks: list[str] = []
    for entry in entries:
        try:
            if "%" in entry:  # a link-local scope (fe80::1%eth0) names this host's interface
                raise ValueError(entry)
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValidationError(
                _(
                    "%(entry)s is not an IP address or network. Write an address such as "
                    "203.0.113.7 or a network such as 203.0.113.0/24.",
                    entry=entry,
                )
            ) from None
        if "/" in entry and net.network_address != ipaddress.ip_interface(entry).ip:
            raise ValidationError(
                _(
                    "%(entry)s is not the start of a network: did you mean %(network)s?",
                    entry=entry,
                    network=str(net),
                )
            )
        mapped = net.network_address.ipv4_mapped if isinstance(net, ipaddress.IPv6Network) else None
        if mapped is not None and net.prefixlen >= 96:
            # ::ffff:203.0.113.7 is how some tools write an IPv4 address; Asterisk sees an IPv4
            # phone's packets as IPv4, so the mapped form would never match: the IPv4 network
            net = ipaddress.IPv4Network((mapped, net.prefixlen - 96))
        if net.prefixlen == 0:
            raise ValidationError(
                _("%(entry)s is every address: leave the list empty to accept any address.", entry=entry)
            )
        if str(net) not in networks:
            networks.append(str(net))
    if len(networks) > SIP_ALLOWLIST_MAX:
        raise ValidationError(
            _("At most %(count)s addresses or networks may be listed.", count=SIP_ALLOWLIST_MAX)
        )
    return ",".join(networks) or None


class SipAllowlistForm(FlaskForm):
    sip_allowlist = TextAreaField(
        _l("Allowed addresses"),
        [Length(max=2000)],
        render_kw={"rows": 3, "autocomplete": "off", "spellcheck": "false"},
    )
    save_allowlist = SubmitField(_l("Save allowed addresses"))

    def validate_sip_allowlist(self, field: TextAreaField) -> None:
        self.networks = parse_sip_allowlist(field.data or "")


def set_sip_allowlist(
    session: Session, vn: VirtualNumber, user: User, networks: str | None, *, remote_addr: str = ""
) -> bool:
    """Store the number's allow-list (canonical, from parse_sip_allowlist; None: any address)
    and audit the change; False when it was already that."""
    if user.role != "primary" or user.account_id != vn.account_id:
        raise ServiceError(_("Only the primary account holder can change the allowed addresses."))
    before = vn.sip_allowlist
    if before == networks:
        return False
    vn.sip_allowlist = networks
    audit(
        session,
        "panel.sip_allowlist",
        actor=user,
        account_id=vn.account_id,
        obj=vn,
        details={"before": before, "after": networks},
        remote_addr=remote_addr,
    )
    return True
