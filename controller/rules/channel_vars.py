"""Every dialplan context and channel variable name we read or set, in one place.

The asterisk_conf templates and the AGI/ARI handlers both import these, so a rename is one edit.
"""

import re

_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")

# Contexts (extensions.conf)
CTX_MEMBERS = "members"  # calls from a member's SIP device
CTX_FROM_PSTN = "from-pstn"  # calls arriving on DIDs from the trunk
CTX_REFUSED = "refused"  # where a refused call is sent: announcement + hangup
CTX_DIAL = "dial-out"  # executes a decision the controller made
CTX_TEST = "voip-test"  # used by the test-suite only (exercises AGI/ARI wiring)

# FastAGI routes (agi://host:port/<route>)
ROUTE_OUTBOUND = "outbound"
ROUTE_INBOUND = "inbound"
ROUTE_CALLINGCARD = "callingcard"
ROUTE_FAX = "fax"
ROUTE_PING = "ping"

# Channel variables set by the controller for the dialplan
VAR_LANGUAGE = "CHANNEL(language)"  # prompts' language: the member's Account.language
VAR_DECISION = "VOIP_DECISION"  # what the dialplan does next (dial, refuse, stasis...)
VAR_REFUSE_REASON = "VOIP_REFUSE"  # which announcement explains a refusal
VAR_DIAL_TARGET = "VOIP_DIAL_TARGET"  # Dial() argument list built by the controller
VAR_DIAL_TIMEOUT = "VOIP_DIAL_TIMEOUT"
VAR_DIAL_OPTIONS = "VOIP_DIAL_OPTIONS"
VAR_PING_REPLY = "VOIP_PING_REPLY"  # set by the ping route; read back by the dialplan
# CDR fields the rater reads (custom cdr columns filled from CDR variables)
CDR_VNUM = "vnum"

# Refusal reasons -> (announcement, hangup cause). The controller sets VAR_REFUSE_REASON to one
# of these keys; extensions.conf (context CTX_REFUSED) plays the sound and hangs up. Only files of
# Debian's core sound sets (asterisk-core-sounds-en/-es/-fr); each says what happened.
REFUSALS: dict[str, tuple[str, int]] = {
    "error": ("im-sorry&sorry-youre-having-problems", 41),
    "invalid_number": ("cannot-complete-as-dialed&check-number-dial-again", 28),
    "not_in_service": ("ss-noservice", 1),
    "not_permitted_us_canada": ("im-sorry&feature-not-avail-line", 21),
    "not_permitted_international": ("im-sorry&feature-not-avail-line&to-call-this-number", 21),
    # no set has a prompt about credit: "I'm sorry. You have zero minutes. Goodbye." (for this
    # call: a refusal for credit means not even one billing increment is paid for)
    "no_credit": ("im-sorry&vm-youhave&digits/0&minutes&vm-goodbye", 21),
    "unavailable": ("sorry&all-circuits-busy-now", 34),
    "incoming_800_blocked": ("vm-isunavail", 21),
    "forbidden": ("vm-sorry&goodbye", 21),
    # the calling card's caller ID is locked after repeated wrong PINs: "Login incorrect.
    # Please try your call again later. Goodbye."
    "pin_locked": ("vm-incorrect&please-try-call-later&vm-goodbye", 21),
}
# A refusal's announcement in a language whose sound set lacks a file of the one above (Asterisk
# would play that file in English): reason -> {language: announcement}. Debian's Spanish set has
# no im-sorry, cannot-complete-as-dialed, goodbye nor please-try-call-later (nor anything to say
# error, not_permitted_* or unavailable); French says "zéro minute" (singular below two).
REFUSALS_BY_LANGUAGE: dict[str, dict[str, str]] = {
    "invalid_number": {"es": "privacy-incorrect"},  # "Lo siento, ese número no es válido."
    "forbidden": {"es": "vm-sorry&vm-goodbye"},
    "no_credit": {
        "es": "vm-youhave&digits/0&minutes&vm-goodbye",
        "fr": "im-sorry&vm-youhave&digits/0&minute&vm-goodbye",
    },
    "pin_locked": {"es": "vm-incorrect&vm-goodbye"},
}

# --- issue 13, spending limits (controller/rules/limits.py): refusals of the limits ---
# A cap reached says what no_credit says (nothing left to call with today); a destination the
# limits exclude says the line cannot call this number; too many calls: "all your simultaneous
# calls are in use"; the velocity rule: "this feature is not available, please try later".
_CAP = ("im-sorry&vm-youhave&digits/0&minutes&vm-goodbye", 21)
_DESTINATION = ("im-sorry&feature-not-avail-line&to-call-this-number", 21)
REFUSALS.update(
    {
        "daily_cap": _CAP,
        "intl_daily_cap": _CAP,
        "number_daily_limit": _CAP,
        "country_not_allowed": _DESTINATION,
        "rate_too_high": _DESTINATION,
        "premium_blocked": _DESTINATION,
        "too_many_calls": ("im-sorry&simul-call-limit-reached", 34),
        "velocity_tripped": ("im-sorry&feature-not-avail-line&please-try-call-later&vm-goodbye", 21),
    }
)
for _reason in ("daily_cap", "intl_daily_cap", "number_daily_limit"):
    REFUSALS_BY_LANGUAGE[_reason] = dict(REFUSALS_BY_LANGUAGE["no_credit"])
for _reason in (
    "country_not_allowed",
    "rate_too_high",
    "premium_blocked",
    "too_many_calls",
    "velocity_tripped",
):
    REFUSALS_BY_LANGUAGE[_reason] = {"es": "vm-sorry&vm-goodbye"}
# --- end issue 13, spending limits ---
# --- issue 15, a suspended account (db/migrations/versions/0025_suspension.py) ---
# Its devices keep their endpoint, in this context: 911 goes out as a member's does, anything
# else hears "I'm sorry, your telephone number is de-activated. Goodbye." (Debian's Spanish set
# has none of those words but vm-sorry and vm-goodbye; the French one has no "is")
CTX_SUSPENDED = "suspended"
REFUSE_SUSPENDED = "account_suspended"
REFUSALS[REFUSE_SUSPENDED] = ("im-sorry&your&telephone-number&is&de-activated&vm-goodbye", 21)
REFUSALS_BY_LANGUAGE[REFUSE_SUSPENDED] = {
    "es": "vm-sorry&vm-goodbye",
    "fr": "im-sorry&your&telephone-number&de-activated&vm-goodbye",
}
# --- end issue 15, a suspended account ---
# --- issue 16, screening (controller/rules/screening.py, agi/inbound.py) ---
# A blocked caller hears "The number you have dialed is not in service" (nothing tells it that
# it is blocked); a caller without a caller ID when the number refuses those: "The party you are
# trying to reach does not accept unidentified calls. Goodbye." Every file is in all three sets.
REFUSE_CALLER_BLOCKED = "caller_blocked"
REFUSE_ANONYMOUS = "anonymous_rejected"
REFUSALS[REFUSE_CALLER_BLOCKED] = ("ss-noservice", 1)  # the cause too: not_in_service's
REFUSALS[REFUSE_ANONYMOUS] = ("privacy-unident&vm-goodbye", 21)
# Find-me confirmation: Dial's U option runs this subroutine on a forwarded leg that answered;
# the leg hears "press 1 to accept this call, or 2 to reject it" and has FWD_CONFIRM_SECONDS to
# press 1; anything else sets GOSUB_RESULT=CONGESTION: Dial hangs the leg up and the caller's
# channel goes on with DIALSTATUS CONGESTION (no answer for the plan), still hearing ringing
CTX_FWD_CONFIRM = "fwd-confirm"
FWD_CONFIRM_PROMPT = "followme/options"
FWD_CONFIRM_SECONDS = 10
FWD_CONFIRM_OPTION = f"U({CTX_FWD_CONFIRM})"
# A simultaneous list with confirmation: each PSTN leg rings through a Local channel in
# CTX_FWD_LEG, which dials the number's fwd-out leg and asks it (the U option) there; it answers
# the list's Dial only once the leg pressed 1, so the other legs keep ringing meanwhile. The list
# rings VAR_FWD_RING seconds on each leg (CTX_FWD_LEG's Dial); the list's own Dial waits
# FWD_CONFIRM_GRACE seconds longer, so a leg that answers late still has its prompt (3.6 s in
# en, 5.5 s in fr, 5.8 s in es) and its FWD_CONFIRM_SECONDS to press 1
CTX_FWD_LEG = "fwd-leg"
VAR_FWD_RING = "VOIP_FWD_RING"
FWD_CONFIRM_GRACE = FWD_CONFIRM_SECONDS + 8
# --- end issue 16, screening ---
CDR_CALL_CLASS = "call_class"  # controller.rules.numbers.DialClass value of the decided leg
CDR_DIALED = "dialed"  # E.164 digits dialed
CDR_AUTH_ID = "auth_id"  # call_authorizations.id holding the balance for this call

# More contexts and variables for the call routes
CTX_INCOMING = "incoming"  # DIDs and on-net calls: AGI inbound
CTX_FWD_OUT = "fwd-out"  # a forwarded leg to the PSTN, decided like an outbound call
CTX_SIM_PSTN = "sim-pstn"  # the sandbox's simulated PSTN
VAR_FWD_VNUM = "VOIP_FWD_VNUM"  # the forwarding member, inherited by the Local leg
VAR_MAX_SECONDS = "VOIP_MAX_SECONDS"
DECISION_DIAL = "dial"
DECISION_ONNET = "onnet"
DECISION_REFUSE = "refuse"
DECISION_DONE = "done"
# after the forwarding plan: voicemail for the mailbox in VAR_DIAL_TARGET, as a dialplan step of
# its own (its own CDR: what Call History shows of a call that went to voicemail)
DECISION_VOICEMAIL = "voicemail"
# a service number (controller/rules/service_numbers.py): Goto its dialplan target, in VAR_DIAL_TARGET
# as context/extension/priority (a value without commas goes in the decision's one MSet)
DECISION_SERVICE = "service"
SERVICE_TARGET_SEP = "/"

# Fax (res_fax): what ReceiveFAX leaves on the channel, read by agi/fax.py
VAR_FAX_STATUS = "FAXSTATUS"  # SUCCESS or FAILED
VAR_FAX_ERROR = "FAXERROR"  # why it failed (res_fax's error text)
VAR_FAX_STATUS_TEXT = "FAXOPT(statusstr)"  # the fax stack's own status sentence
VAR_FAX_PAGES = "FAXPAGES"
VAR_FAX_REMOTE_STATION = "REMOTESTATIONID"
VAR_FAX_RESOLUTION = "FAXRESOLUTION"  # e.g. 8040x7700 (pixels per metre, x by y)
VAR_FAX_BITRATE = "FAXBITRATE"  # bits per second of the page transfer
VAR_FAX_MODE = "FAXMODE"  # how the pages came: audio (G.711) or T38
FAX_LOCAL_STATION_ID = "FAXOPT(localstationid)"  # set by us: the DID, sent as our CSI
# Test-suite only (voip-test context): which TIFF SendFAX sends, which DID receives it
VAR_TEST_FAX_FILE = "VOIP_TEST_FAX_FILE"
VAR_TEST_FAX_DID = "VOIP_TEST_FAX_DID"
CTX_TEST_FAX_SENDER = "voip-test-fax-sender"  # test-suite only: the SendFAX leg of a fax test
ROUTE_RELEASE = "release"  # hangup handler: give back an unanswered call's hold

# Conferences (ari_apps/conference): Stasis(<ari_app>,conference[,tollfree]) on the access numbers
APP_CONFERENCE = "conference"  # first Stasis argument: the dispatcher's app name
CONF_ARG_TOLLFREE = "tollfree"  # second argument on the toll-free access numbers
CONF_BRIDGE_PREFIX = "conference-"  # ARI bridge name: conference-<id> (recovery reads it back)
# Set on a participant's channel when it joins, read back after a controller restart
VAR_CONF_ID = "VOIP_CONF_ID"
VAR_CONF_ROLE = "VOIP_CONF_ROLE"
CTX_BILLED_OUT = "billed-out"  # the billed leg of a call whose caller was answered first
VAR_BILL_VNUM = "VOIP_BILL_VNUM"  # inherited by that leg: its CDR fields and its Dial
VAR_BILL_CLASS = "VOIP_BILL_CLASS"
VAR_BILL_DIALED = "VOIP_BILL_DIALED"
VAR_BILL_AUTH = "VOIP_BILL_AUTH"
VAR_BILL_TARGET = "VOIP_BILL_TARGET"
VAR_BILL_OPTIONS = "VOIP_BILL_OPTIONS"

# --- issue 14, least-cost routing: the carriers a billable call tries, in order ---
# Decision `route`: context CTX_CARRIER_OUT tries candidate 1..VAR_ROUTE_COUNT on the caller's
# channel. Candidate i's values are in VAR_ROUTE_<field> + str(i), all set in the decision's
# one MSet (and inherited, with `__`, by the calling card's billed leg).
DECISION_ROUTE = "route"
CTX_CARRIER_OUT = "carrier-out"
VAR_ROUTE_COUNT = "VOIP_RN"
VAR_ROUTE_NAME = "VOIP_RC"  # the carrier's name (CDR(carrier))
VAR_ROUTE_ENDPOINT = "VOIP_RE"  # its endpoint: DEVICE_STATE, and the GROUP that counts its calls
VAR_ROUTE_DIAL = "VOIP_RD"  # Dial()'s target through it (tech prefix + digits @ endpoint)
VAR_ROUTE_MAX = "VOIP_RM"  # its concurrent-call limit (0: none)
VAR_ROUTE_CALLER_ID = "VOIP_RI"  # the caller ID it is sent (its caller-ID rule)
VAR_ROUTE_SETUP = "VOIP_RT"  # seconds it has to ring or make progress (the watchdog's)
# the loop's own state on the channel: which candidate, how many Dials, the log of the attempts,
# the outcome of the last one and its SIP response code
VAR_ROUTE_INDEX = "VOIP_RA"
VAR_ROUTE_TRIES = "VOIP_RX"
VAR_ROUTE_LOG = "VOIP_RL"
VAR_ROUTE_OUTCOME = "VOIP_RW"
VAR_ROUTE_SIP = "VOIP_RS"
VAR_ROUTE_KEYS = "VOIP_RK"
# a called party's own answer (not the carrier's trouble): no other carrier is tried
ROUTE_FINAL_SIP = ("404", "484", "485", "486", "600", "603", "604")
ROUTE_GROUP_CATEGORY = "carriers"  # GROUP(carriers)=<endpoint>: GROUP_COUNT(<endpoint>@carriers)
# the pre-dial handler on each carrier channel announces it to the setup watchdog
# (controller/services/carrier_watch.py) with this UserEvent
EVENT_CARRIER_DIAL = "VoipCarrierDial"
EXTEN_CARRIER_WATCH = "watch"
CDR_CARRIER = "carrier"  # the carrier of this attempt (each Dial writes its own CDR row)
CDR_ATTEMPTS = "attempts"  # attempts made so far, this one included
CDR_CARRIER_ATTEMPTS = "carrier_attempts"  # "name:outcome;..." of the attempts before and this one
# a route the controller could not give (no carrier has a price within the member's): the call
# is refused with this reason ("I'm sorry, that number is not in service")
REFUSE_NO_ROUTE = "not_in_service"
# --- end issue 14, least-cost routing ---

# Voicemail (ari_apps/voicemail): Stasis(<ari_app>, <name>, args...) names of the two flows
STASIS_VOICEMAIL = "voicemail"  # deposit: args <virtual number>[,busy] (agi/inbound.py step 3)
VM_ARG_BUSY = "busy"  # deposit's last argument when the member was busy: the busy greeting
STASIS_VOICEMAIL_MAIN = "voicemail-main"  # retrieval: args [<virtual number>] (feature code)
# Test-suite only (voip-test context, exten vmcaller): a caller that waits, plays, hangs up
VAR_TEST_WAIT = "VOIP_TEST_WAIT"
VAR_TEST_SOUND = "VOIP_TEST_SOUND"
VAR_TEST_DTMF = "VOIP_TEST_DTMF"  # voip-test, exten vmkeys: the keys the caller sends


def prompt_language(code: str | None) -> str | None:
    """A member's Account.language as a channel language (Asterisk looks up sounds/<code>/...,
    falling back to en for a prompt missing there), or None for a value that is not a plain
    language code (never reaches the channel)."""
    return code if code and _LANGUAGE.fullmatch(code) else None
