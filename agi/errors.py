"""Typed errors of the AGI layer. A route raises CallRefused to refuse a call with a reason;
the server turns it into the refusal the dialplan plays (context CTX_REFUSED)."""

from __future__ import annotations


class AGIError(Exception):
    """Anything that went wrong talking to Asterisk over one FastAGI socket."""


class AGIHangup(AGIError):
    """The caller hung up (HANGUP line, or result=-1 (hangup), or the socket closed)."""


class AGIInvalidCommand(AGIError):
    """510: Asterisk did not know the command."""


class AGIUsageError(AGIError):
    """520: wrong syntax for the command."""


class AGIProtocolError(AGIError):
    """The peer sent something that is not FastAGI (bad headers, oversized lines, timeouts)."""


class AGIAppError(AGIError):
    """result=-1: the application failed."""


class CallRefused(Exception):
    """A decision to refuse the call; `reason` is a key of channel_vars.REFUSALS. `language`:
    the member's prompt language when the route knows the member, so the refusal is announced
    in it (None: the channel keeps the language it has)."""

    def __init__(self, reason: str, detail: str = "", language: str | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.language = language
