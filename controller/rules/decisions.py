"""Pure call decisions: given a number's settings and what was dialed, what happens.
They return verdicts with reasons (keys of channel_vars.REFUSALS); they never raise to
signal a verdict and do no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from controller.rules.numbers import DialClass, Dialed
from controller.rules.rating import Rate


@dataclass(frozen=True)
class Permissions:
    """The virtual number's options that govern where it may call."""

    allow_us_canada_ld: bool = False
    allow_international_ld: bool = False


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # refusal reason key when not allowed
    message: str = ""  # for people (panel validation, logs)


ALLOW = Verdict(True)


def may_call(perms: Permissions, dialed: Dialed) -> Verdict:
    """Whether this virtual number may call this destination at all (money aside).
    911 is always allowed; service numbers, on-net, regional and toll-free calls need no LD
    permission."""
    cls = dialed.dial_class
    if cls is DialClass.INVALID:
        return Verdict(False, "invalid_number", f"Not a number we can dial ({dialed.reason}).")
    if cls in (
        DialClass.EMERGENCY,
        DialClass.SERVICE,
        DialClass.ON_NET,
        DialClass.TOLL_FREE,
        DialClass.REGIONAL,
    ):
        return ALLOW
    if cls is DialClass.DOMESTIC and not perms.allow_us_canada_ld:
        return Verdict(
            False,
            "not_permitted_us_canada",
            "Calls to the continental US and Canada are not allowed on this number "
            "(Allow Continental US and Canada LD is off).",
        )
    if cls is DialClass.INTERNATIONAL and not perms.allow_international_ld:
        return Verdict(
            False,
            "not_permitted_international",
            "International calls are not allowed on this number (Allow International LD is off).",
        )
    return ALLOW


@dataclass(frozen=True)
class OutboundPlan:
    """An allowed outbound call as the route hands it to the dialplan: what was dialed (its
    class says how: on-net, toll-free or billable), the caller ID to present (None: the
    caller's own, on-net), the call's maximum length in seconds and the id of the hold that
    reserves its plan seconds or credit (both None when nothing is charged), and the member's
    prompt language (None: the channel keeps its own). A service number's call goes to its
    dialplan target (`context,extension,priority`; controller/rules/service_numbers.py).
    `sell_rate`: the member's rate the hold was priced on, which least-cost routing compares
    each carrier's buy price with (issue 14); None when nothing is priced (on-net, toll-free)."""

    dialed: Dialed
    caller_id: str | None = None
    max_seconds: int | None = None
    auth_id: int | None = None
    language: str | None = None
    service_target: str | None = None
    sell_rate: Rate | None = None

    @property
    def dial_options(self) -> str:
        """Dial()'s options: S(n) hangs up n seconds after the answer."""
        return f"S({self.max_seconds})" if self.max_seconds is not None else ""
