"""One call as a member's number experienced it, from the CDRs of that call that are its own.

Asterisk writes a CDR per leg (migration 0012 says which legs are a number's): a call that rang
several devices or numbers has one per number rung, a Dial that ended unanswered is followed by
one for what came next (voicemail, or the Hangup after a busy signal), a forwarded leg to the
PSTN has its own. `compose` sums up those legs as the row a member reads:

- direction: received (an on-net call to the number, a PSTN call route inbound tagged for it,
  or the legs its forwarding dialed for one), else placed;
- the number dialled (CDR dialed: dst is the dialplan's extension, `dial` or a refusal's
  reason) or the number that called, and the caller's name;
- what happened: refused (and why: the refusal's extension), answered by a person (a leg with
  a party: a device, a forwarded number), voicemail (the dialplan's voicemail hand-off, or an
  unregistered number's voicemail answering its failed Dial's CDR), else busy, no answer,
  congestion, failed;
- the duration: its longest answered leg (not a refusal's announcement), as the trigger counts
  it for the chart (member_calls.seconds);
- the price: what the rater charged the number's own legs (a forwarding member pays its
  forwarded legs), pending while one of them is not rated.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from controller.rules import channel_vars as cv
from controller.rules.numbers import DialClass, classify, normalize
from webpanel.choices import country_name
from webpanel.i18n import lazy_gettext as _l

ANSWERED, NO_ANSWER, BUSY = "ANSWERED", "NO ANSWER", "BUSY"
FAILED, CONGESTION = "FAILED", "CONGESTION"
VOICEMAIL, REFUSED = "VOICEMAIL", "REFUSED"
INBOUND = "IN"

# lazy: a row's words are read in the language of the page (or CSV) that shows them
OUTCOMES = {
    ANSWERED: _l("Answered"),
    NO_ANSWER: _l("No answer"),
    BUSY: _l("Busy"),
    FAILED: _l("Failed"),
    CONGESTION: _l("Congestion"),
    VOICEMAIL: _l("Voicemail"),
    REFUSED: _l("Refused"),
}
# why a call was refused: the refusal's extension (controller.rules.channel_vars.REFUSALS)
REFUSALS = {
    "not_permitted_us_canada": _l(
        "Refused: long distance to the US and Canada is not allowed on this number"
    ),
    "not_permitted_international": _l("Refused: international calls are not allowed on this number"),
    "no_credit": _l("Refused: not enough credit"),
    "invalid_number": _l("Refused: not a valid number"),
    "not_in_service": _l("Refused: the number is not in service"),
    "unavailable": _l("Refused: the service could not take the call, try again"),
    "incoming_800_blocked": _l("Refused: incoming toll-free calls are not allowed"),
    "forbidden": _l("Refused: this number may not place calls"),
    "error": _l("Refused: the call could not be completed"),
    # issue 16: the number's screening refused the caller (a call it received)
    cv.REFUSE_CALLER_BLOCKED: _l("Refused: the caller is blocked"),
    cv.REFUSE_ANONYMOUS: _l("Refused: the caller withheld their number"),
}
# refusals of a call the number received (migration 0029): its screening's
SCREENING_REFUSALS = frozenset({cv.REFUSE_CALLER_BLOCKED, cv.REFUSE_ANONYMOUS})
# Type codes as the help page's legend: R, D, I, and what a plan or the kind of call gives.
# A row's type is the code the CDR or its charge stores (a plain string); DialClass members
# are str, equal to and hashed like their codes, so they key the lookup.
TYPES = {
    DialClass.REGIONAL: _l("Regional"),
    DialClass.DOMESTIC: _l("Domestic (US & Canada)"),
    DialClass.INTERNATIONAL: _l("International"),
    "PR": _l("Regional, absorbed by a calling plan"),
    "PD": _l("Domestic, absorbed by a calling plan"),
    DialClass.ON_NET: _l("On-net (member to member, free)"),
    DialClass.EMERGENCY: _l("Emergency 911"),
    DialClass.TOLL_FREE: _l("Toll-free"),
    "S": _l("A service number of the platform (free)"),  # conference, calling card, voicemail...
    INBOUND: _l("Incoming call"),
}
# the legend as the page prints it: each code as written (str() of a member is its name)
LEGEND = {code.value if isinstance(code, DialClass) else code: label for code, label in TYPES.items()}
# the order in which unanswered legs say what happened (busy on one device beats the others
# ringing out; the FAILED after a busy Dial is the Hangup that followed it)
_UNANSWERED = (BUSY, NO_ANSWER, CONGESTION, FAILED)
# type codes a refused call without a class can be shown with (what its number would have been)
_GUESSABLE = {DialClass.REGIONAL, DialClass.DOMESTIC, DialClass.INTERNATIONAL, DialClass.TOLL_FREE}


@dataclass(frozen=True, slots=True)
class Leg:
    """One CDR of the call (the columns `compose` reads) and what the rater charged for it."""

    id: int
    start: dt.datetime
    src: str
    dst: str
    dcontext: str
    clid: str
    channel: str
    dstchannel: str
    lastapp: str
    disposition: str
    billsec: int
    vnum: str
    call_class: str
    dialed: str
    call_type: str | None  # None: not rated (yet)
    country: str
    cost: Decimal | None

    @property
    def refused(self) -> bool:
        return self.dcontext == cv.CTX_REFUSED

    @property
    def screened(self) -> bool:
        """Refused by the called number's screening: a call it received (migration 0029)."""
        return self.refused and self.dst in SCREENING_REFUSALS

    @property
    def forwarded(self) -> bool:
        """A leg the number's forwarding dialed to the PSTN (its Local channel in fwd-out)."""
        return self.channel.startswith("Local/") and f"@{cv.CTX_FWD_OUT}-" in self.channel

    @property
    def answered(self) -> bool:
        return self.disposition == ANSWERED and not self.refused

    @property
    def by_a_person(self) -> bool:
        """Answered by a party: a device or a forwarded number (voicemail has none)."""
        return self.answered and bool(self.dstchannel)

    @property
    def voicemail(self) -> bool:
        if not self.answered or self.dstchannel:
            return False
        if self.dcontext == cv.CTX_DIAL and self.dst == cv.DECISION_VOICEMAIL:
            return True
        # an unregistered number's voicemail answers on the CDR of its failed Dial
        return self.dcontext == cv.CTX_INCOMING and self.lastapp == "Dial"


@dataclass(frozen=True)
class CallRow:
    id: int  # member_calls.id: with `start`, the report's keyset key
    start: dt.datetime
    number: str  # the member's number whose side of the call this is
    calling: str
    called: str
    caller_name: str
    country: str
    outcome: str  # ANSWERED, VOICEMAIL, REFUSED...
    reason: str  # a refused call's reason (channel_vars.REFUSALS), else ''
    type: str
    billsec: int
    cost: Decimal | None  # None: not rated yet
    outbound: bool

    @property
    def disposition(self) -> object:
        """What happened, in the reader's language (a lazy string: the same object for the
        same words, which render.rows counts on)."""
        if self.outcome == REFUSED:
            return REFUSALS.get(self.reason, OUTCOMES[REFUSED])
        # `is None`, not `or`: the truth of a lazy string is a catalog lookup (len of its text)
        found = OUTCOMES.get(self.outcome)
        return found if found is not None else self.outcome.title()

    @property
    def country_name(self) -> str:
        return country_name(self.country) if self.country else ""

    @property
    def type_name(self) -> str:
        return str(TYPES.get(self.type, self.type))

    @property
    def did(self) -> str | None:
        """The DID a received call came in on (None: it rang the number itself)."""
        return self.called if not self.outbound and self.called and self.called != self.number else None


@functools.lru_cache(maxsize=4096)
def country_of(number: str) -> str:
    """ISO 3166 alpha-2 of a number as a CDR has it (E.164 digits or as dialed), '' if none."""
    if not number:
        return ""
    dialed = (
        classify(number) if number.startswith(("+", "011")) or len(number) <= 10 else classify("+" + number)
    )
    return dialed.country


def _a_number(text: str) -> bool:
    return normalize(text) is not None


def _outcome(main: Sequence[Leg], legs: Sequence[Leg]) -> tuple[str, str]:
    refused = next((leg for leg in main if leg.refused), None)
    if refused is not None:
        return REFUSED, refused.dst
    if any(leg.by_a_person for leg in legs):
        return ANSWERED, ""
    if any(leg.voicemail for leg in main):
        return VOICEMAIL, ""
    if any(leg.answered for leg in main):  # answered with no party that is not voicemail
        return ANSWERED, ""
    found = {leg.disposition for leg in main}
    for disposition in _UNANSWERED:
        if disposition in found:
            return disposition, ""
    return (main[0].disposition or FAILED) if main else FAILED, ""


def compose(number: str, id_: int, start: dt.datetime, legs: Sequence[Leg]) -> CallRow:
    """The row of `number`'s side of one call, from its legs (its own and the on-net legs of a
    call to it), oldest first."""
    if not legs:  # its CDRs are gone (never, with Asterisk writing them): a row that says so
        return CallRow(id_, start, number, "", "", "", "", FAILED, "", "", 0, Decimal("0"), True)
    own = [leg for leg in legs if leg.vnum == number]
    to_it = [
        leg
        for leg in legs
        if leg.call_class == DialClass.ON_NET and leg.dialed == number and leg.vnum != number
    ]
    forwarded = [leg for leg in own if leg.forwarded]
    inbound = bool(
        to_it or forwarded or any(not leg.call_class and (not leg.refused or leg.screened) for leg in own)
    )
    main = [leg for leg in legs if not leg.forwarded] or list(legs)
    head = main[0]
    outcome, reason = _outcome(main, legs)
    if not inbound and reason == cv.REFUSE_CALLER_BLOCKED:
        # a member blocked by the on-net number it called: its own side says what it heard
        # ("not in service"); only the callee's side says the caller is blocked
        reason = cv.REFUSE_NO_ROUTE
    seconds = max((leg.billsec for leg in legs if leg.answered), default=0)

    # the type the call was charged as: its answered leg's (a call a carrier failed over has an
    # unanswered first attempt rated D and the answered one PD when a plan paid it)
    charged = next((leg for leg in main if leg.call_type and leg.answered), None) or next(
        (leg for leg in main if leg.call_type), None
    )
    if inbound:
        calling = head.src or head.vnum
        if to_it:
            called = number
        else:  # the number dialled (route inbound records it; before it did, the dst)
            called = next((leg.dialed for leg in main if leg.dialed), "") or next(
                (leg.dst for leg in main if _a_number(leg.dst)), number
            )
        kind, country = INBOUND, "" if to_it else country_of(called)
        caller_name = _caller_name(head.clid)
    else:
        calling = head.src or number
        called = head.dialed or (head.dst if _a_number(head.dst) else "")
        caller_name = ""
        if charged is not None and charged.call_type:
            kind, country = charged.call_type.strip(), charged.country.strip()
        else:
            kind, country = head.call_class, ""
        if not kind and called:  # refused before it was classified: what it would have been
            guess = classify(called, caller_number=number).dial_class
            kind = guess.value if guess in _GUESSABLE else ""
        if not country and kind != DialClass.ON_NET:
            country = country_of(called)

    # what the rater charges this number: its own legs that have a class (a forwarding
    # member's forwarded legs included); pending until each one is rated
    billable = [leg for leg in own if leg.call_class]
    cost = (
        None
        if any(leg.call_type is None for leg in billable)
        else sum((leg.cost or Decimal("0") for leg in billable), Decimal("0"))
    )
    return CallRow(
        id_,
        start,
        number,
        calling,
        called,
        caller_name,
        country,
        outcome,
        reason,
        kind,
        seconds,
        cost,
        not inbound,
    )


def _caller_name(clid: str) -> str:
    """The name part of Asterisk's clid ("Name" <number>)."""
    if "<" in clid:
        return clid.split("<", 1)[0].strip().strip('"').strip()
    return ""
