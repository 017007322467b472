"""The admin-overridable part of the dialplan: `extensions_admin.conf`.

The generated extensions.conf ends with `#tryinclude extensions_admin.conf`. That file is the
operator admin's (the panel's Dialplan page writes it, validated, then `dialplan reload`s); every
other line of the dialplan stays generated from templates/. What an admin may write there:

- `[members]`: **feature codes** only, exact extensions starting with `*` (`*43`), which win
  over the generated catch-all pattern; not the voicemail feature code, never a dialable number
  (those always go through the controller's outbound route: billing and permissions);
- `[sim-pstn]`: extra numbers of the sandbox's simulated PSTN (exact numbers or patterns);
- `[admin-<name>]`: the admin's own contexts (announcements, echo tests, IVRs), reached from a
  feature code or another admin context, which may `include =>` each other.

Never overridable: the AGI routing contexts (incoming, from-pstn, dial-out, fwd-out, billed-out),
the refusals, the test contexts, [general] and [globals] (AGI_URL), and any line the generated
file already defines. Only a list of harmless applications is accepted, and the functions and
applications that run commands, read or write files or other config, or evaluate text as
dialplan (System, SHELL, FILE, EVAL, Exec, AGI, MixMonitor's command...) are refused, so an admin
session cannot become a shell on the Asterisk host. Nor a way around billing (issue 13 item 9):
jumps go only into the admin's own [admin-...] contexts, Dial rings only Local/...@admin-...,
and no destination is computed from what a caller controls (see "where a call may go" below).

`validate(text, generated=...)` returns every problem with its line number; an empty list means
the text may be applied. `load_applied(settings)` reads the newest applied version from the
database (best effort) so that re-rendering the config keeps what the admin applied.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from controller.rules import channel_vars as c
from controller.settings import Settings

ADMIN_FILE = "extensions_admin.conf"
MAX_CHARS = 100_000
MAX_LINES = 3000

ADMIN_CONTEXT = re.compile(r"^admin-[a-z0-9][a-z0-9-]{0,38}$")
FEATURE_CODE = re.compile(r"^\*[0-9*#]{1,9}$")
_EXACT = re.compile(r"^[0-9A-Za-z*#+-]{1,40}$")
_PATTERN = re.compile(r"^_[0-9A-Za-z*#+.!\[\]-]{1,40}$")
_PRIORITY = re.compile(r"^(?P<prio>[0-9]{1,4}|n)(?:\((?P<label>[A-Za-z][A-Za-z0-9_-]{0,30})\))?$")
_APP = re.compile(r"^(?P<app>[A-Za-z][A-Za-z0-9_]*)\s*(?:\((?P<args>.*)\))?$", re.S)
_FUNCTION_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_STATEMENT = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=>?\s*(?P<value>.*)$")
_CONTEXT = re.compile(r"^\[(?P<name>[^\]]*)\]\s*(?P<template>\(.*\))?\s*$")

# Contexts an admin may add lines to (besides their own admin-* contexts)
FEATURE_CONTEXT = c.CTX_MEMBERS
SIM_PSTN = c.CTX_SIM_PSTN

# Applications an override may run (compared case-insensitively): answering, playing, reading
# digits, jumping within the dialplan, dialing, events. Everything else is refused.
_ALLOWED_DISPLAY = (
    "Answer",
    "Hangup",
    "Busy",
    "Congestion",
    "Progress",
    "Ringing",
    "Wait",
    "WaitExten",
    "Background",
    "Playback",
    "Playtones",
    "StopPlaytones",
    "Echo",
    "Milliwatt",
    "Read",
    "SayDigits",
    "SayNumber",
    "SayAlpha",
    "SayPhonetic",
    "SayUnixTime",
    "DateTime",
    "Goto",
    "GotoIf",
    "GotoIfTime",
    "Gosub",
    "GosubIf",
    "Return",
    "NoOp",
    "Verbose",
    "Log",
    "Set",
    "MSet",
    "UserEvent",
    "SendDTMF",
    "Dial",
    "Stasis",
    "MusicOnHold",
    "StartMusicOnHold",
    "StopMusicOnHold",
)
ALLOWED_APPS = frozenset(a.lower() for a in _ALLOWED_DISPLAY)
# Functions never allowed anywhere in a line: shell, files, other config, databases, HTTP,
# text evaluated as dialplan, the process environment, globals (AGI_URL routes every call).
FORBIDDEN_FUNCTIONS = frozenset(
    f.lower()
    for f in (
        "SHELL",
        "FILE",
        "FILE_COUNT_LINE",
        "FILE_FORMAT",
        "EVAL",
        "EVAL_EXTEN",
        "CURL",
        "CURLOPT",
        "ODBC",
        "ODBC_FETCH",
        "SQL_ESC",
        "REALTIME",
        "REALTIME_STORE",
        "REALTIME_DESTROY",
        "REALTIME_FIELD",
        "REALTIME_HASH",
        "AST_CONFIG",
        "STAT",
        "ENV",
        "GLOBAL",
        "SHARED",
        "DB_DELETE",
        "SYSINFO",
        "AGI",
        # issue 13 item 9: the Asterisk database, other channels' variables
        "DB",
        "DB_EXISTS",
        "DB_KEYS",
        "DB_KEYCOUNT",
        "IMPORT",
        "MASTER_CHANNEL",
        # review: Sorcery objects (res_pjsip's auth passwords) and text run as a subroutine
        "AST_SORCERY",
        "EVAL_SUB",
    )
)
# Applications refused by name (also inside ExecIf-like arguments), for a clearer message
FORBIDDEN_APPS = frozenset(
    a.lower()
    for a in (
        "System",
        "TrySystem",
        "Exec",
        "TryExec",
        "ExecIf",
        "ExecIfTime",
        "AGI",
        "EAGI",
        "DeadAGI",
        "MixMonitor",
        "Monitor",
        "Record",
        "ChanSpy",
        "ExtenSpy",
        "Originate",
        "ReceiveFAX",
        "SendFAX",
        # issue 13 item 9: ways to move or spawn a call outside the checked jumps
        "ChannelRedirect",
        "Macro",
        "MacroIf",
        "MacroExclusive",
        "Bridge",
        "BridgeAdd",
        "Transfer",
        "BlindTransfer",
        "DISA",
        "Page",
        "Queue",
        "FollowMe",
        "Dictate",
    )
)


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based; 0 for the text as a whole
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


@dataclass
class Extension:
    context: str
    exten: str
    line: int
    priorities: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Call:
    line: int
    context: str
    app: str  # as written
    args: str


@dataclass
class Parsed:
    """What a dialplan text defines: context -> extensions, context -> includes."""

    contexts: dict[str, dict[str, Extension]] = field(default_factory=dict)
    includes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    context_lines: dict[str, int] = field(default_factory=dict)  # where each context first opens
    calls: list[Call] = field(default_factory=list)  # every application line (strict parse only)

    def extensions(self) -> list[Extension]:
        return [e for exts in self.contexts.values() for e in exts.values()]


def _strip_comment(line: str) -> str:
    """Asterisk's config comments: `;` to the end of the line, unless escaped as `\\;`."""
    out, i = [], 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append("\\;")
            i += 2
            continue
        if ch == ";":
            break
        out.append(ch)
        i += 1
    return "".join(out).strip()


def _is_control(ch: str) -> bool:
    """C0 and C1 controls but the tab, and the Unicode line and paragraph separators."""
    return (ord(ch) < 32 and ch != "\t") or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029"


def _balanced(text: str) -> bool:
    pairs, stack = {")": "(", "}": "{", "]": "["}, []
    for ch in text:
        if ch in "({[":
            stack.append(ch)
        elif ch in ")}]":
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def parse(text: str, *, strict: bool = True) -> Parsed:
    """Parse dialplan text. With strict=False (the generated file) only contexts, extensions and
    includes are collected and nothing is judged."""
    out = Parsed()
    context: str | None = None
    last: Extension | None = None
    # lines end at \n only, as Asterisk reads them (str.splitlines() would also break at \v \f
    # \x1c-\x1e \x85 \u2028 \u2029, inside what Asterisk takes for one line)
    for lineno, raw in enumerate(text.split("\n"), start=1):
        # Asterisk opens a block comment at ;-- and closes it at --; anywhere in a line (not only
        # at its start), and reads what follows --; as live config: a line this parser takes for
        # a comment could be dialplan to Asterisk. Refuse both markers wherever they are.
        if strict and (";--" in raw or "--;" in raw):
            out.problems.append(
                Problem(
                    lineno,
                    "Block comments (;-- --;) are not supported, nor ;-- or --; anywhere in a line; "
                    "start each comment line with ;.",
                )
            )
            continue
        line = _strip_comment(raw)
        if not line:
            continue
        if strict and any(_is_control(ch) for ch in line):
            out.problems.append(Problem(lineno, "The line contains control characters."))
            continue
        m = _CONTEXT.match(line)
        if m:
            context, last = m.group("name").strip(), None
            if strict and m.group("template"):
                out.problems.append(
                    Problem(lineno, "Context templates and options such as (+) or (!) are not allowed.")
                )
            out.contexts.setdefault(context, {})
            out.context_lines.setdefault(context, lineno)
            continue
        if line.startswith("#"):
            if strict:
                out.problems.append(
                    Problem(
                        lineno,
                        f"{line.split()[0]} is not allowed (no files are "
                        "included and no programs run from the dialplan).",
                    )
                )
            continue
        m = _STATEMENT.match(line)
        if not m:
            if strict:
                out.problems.append(
                    Problem(
                        lineno,
                        "Not a dialplan line: expected [context], "
                        "exten => ..., same => ... or include => ....",
                    )
                )
            continue
        key, value = m.group("key").lower(), m.group("value").strip()
        if context is None:
            if strict:
                out.problems.append(Problem(lineno, "A line before the first [context]."))
            continue
        if key == "exten":
            parts = value.split(",", 2)
            if len(parts) < 3:
                if strict:
                    out.problems.append(
                        Problem(lineno, "Write exten => extension,priority,Application(arguments).")
                    )
                continue
            exten, prio, app = (p.strip() for p in parts)
            existing = out.contexts[context].get(exten)
            if existing is None:
                existing = out.contexts[context][exten] = Extension(context, exten, lineno)
            elif strict and prio == "1":
                out.problems.append(
                    Problem(
                        lineno,
                        f"Extension {exten} of [{context}] is already defined on line {existing.line}.",
                    )
                )
            last = existing
            if strict:
                _check_priority(out, lineno, prio, first=True)
                _check_exten(out, lineno, context, exten)
                _check_app(out, lineno, app, context)
        elif key == "same":
            parts = value.split(",", 1)
            if strict:
                if last is None:
                    out.problems.append(
                        Problem(lineno, "same => needs an exten => line above it in this context.")
                    )
                    continue
                if len(parts) < 2:
                    out.problems.append(Problem(lineno, "Write same => n,Application(arguments)."))
                    continue
                _check_priority(out, lineno, parts[0].strip(), first=False)
                _check_app(out, lineno, parts[1].strip(), context)
        elif key == "include":
            out.includes.setdefault(context, []).append((value.split(",", 1)[0].strip(), lineno))
        elif strict:
            out.problems.append(
                Problem(
                    lineno, f"{m.group('key')} => is not allowed here; only exten, same and include lines."
                )
            )
    return out


def _check_priority(out: Parsed, lineno: int, prio: str, *, first: bool) -> None:
    m = _PRIORITY.match(prio)
    if not m:
        out.problems.append(
            Problem(lineno, f"Priority {prio!r} is not a number, n, or either with a (label).")
        )
    elif first and m.group("prio") == "n":
        out.problems.append(
            Problem(lineno, "An exten => line starts at priority 1; use same => n for the next ones.")
        )


def _check_exten(out: Parsed, lineno: int, context: str, exten: str) -> None:
    if "/" in exten:
        out.problems.append(Problem(lineno, f"Extension {exten}: caller ID matching is not allowed."))
    elif not (_EXACT.match(exten) or _PATTERN.match(exten)):
        out.problems.append(Problem(lineno, f"Extension {exten!r} is not a valid extension or _pattern."))
    elif exten.startswith("_") and not _balanced(exten):
        out.problems.append(Problem(lineno, f"Pattern {exten}: unbalanced [ ]."))
    elif context == FEATURE_CONTEXT and not FEATURE_CODE.match(exten):
        out.problems.append(
            Problem(
                lineno,
                f"In [{FEATURE_CONTEXT}] only feature codes are allowed: an exact "
                f"extension starting with * (such as *43); {exten} is not one "
                "(dialed numbers always go through the controller).",
            )
        )


def _check_app(out: Parsed, lineno: int, call: str, context: str) -> None:
    m = _APP.match(call)
    if not m:
        out.problems.append(Problem(lineno, f"{call!r} is not Application(arguments)."))
        return
    app, args = m.group("app"), m.group("args") or ""
    out.calls.append(Call(lineno, context, app, args))
    if app.lower() in FORBIDDEN_APPS:
        out.problems.append(Problem(lineno, f"Application {app} is not allowed in admin overrides."))
    elif app.lower() not in ALLOWED_APPS:
        out.problems.append(
            Problem(
                lineno,
                f"Application {app} is not among those allowed: {', '.join(sorted(_ALLOWED_DISPLAY))}.",
            )
        )
    if not _balanced(args):
        out.problems.append(Problem(lineno, "Unbalanced parentheses, braces or brackets."))
    for name in _FUNCTION_CALL.findall(args):
        lowered = name.lower()
        if lowered in FORBIDDEN_FUNCTIONS or lowered.startswith("odbc_"):
            out.problems.append(Problem(lineno, f"Function {name}() is not allowed in admin overrides."))
        elif lowered in FORBIDDEN_APPS:
            out.problems.append(Problem(lineno, f"Application {name} is not allowed in admin overrides."))
    if "AGI_URL" in args.upper():
        out.problems.append(Problem(lineno, "The controller's AGI routing (AGI_URL) is not overridable."))
    if _computed_name(args):
        out.problems.append(
            Problem(
                lineno,
                "Variable and function names must be written out: a name "
                "computed from ${...} is not allowed.",
            )
        )
    if app.lower() in ("set", "mset", "read"):
        names = (
            [args.split(",", 1)[0]]
            if app.lower() == "read"
            else [part.split("=", 1)[0] for part in args.split(",")]
            if app.lower() == "mset"
            else [args.split("=", 1)[0]]
        )
        if any("$" in name for name in names):
            out.problems.append(
                Problem(
                    lineno, f"{app}: the variable it sets must be written out, not computed from ${{...}}."
                )
            )
        else:
            for name in names:
                problem = _written_name_problem(app, name.strip())
                if problem:
                    out.problems.append(Problem(lineno, problem))


# --- issue 13 item 9: where a call may go ----------------------------------------------------
#
# The generated contexts bill (members' catch-all, fwd-out, billed-out, the calling card), carry
# out the controller's decision (dial-out) or reach the PSTN unbilled (sim-pstn, the trunk).
# An override reaches none of them: every jump (Goto, GotoIf, GotoIfTime, Gosub, GosubIf, the
# context of Background) names an [admin-...] context of the same text, or stays in its own
# context; Dial rings only Local/<extension>@admin-...; nothing that decides where a call goes
# (context, priority, Dial target) is computed. Where a value *is* substituted (the extension of
# a jump into an admin context, the condition of GotoIf), Asterisk substitutes it before it splits
# the arguments, so a caller-controlled value (CALLERID(name) = "1?dial-out,dial,1:") could add a
# destination: only values that are digits by construction are allowed there: a variable only
# ever written by Read() (DTMF: 0-9 * #), or ${FILTER(<letters/digits>,...)}.

# Variables Asterisk itself acts on: where a transfer or a one-digit exit goes, feature hooks
RESERVED_VARIABLES = frozenset(
    (
        "TRANSFER_CONTEXT",
        "FORWARD_CONTEXT",
        "GOTO_ON_BLINDXFR",
        "EXITCONTEXT",
        "DYNAMIC_FEATURES",
        "TOUCH_MONITOR",
        "TOUCH_MONITOR_FORMAT",
        "TOUCH_MONITOR_PREFIX",
        "TOUCH_MIXMONITOR",
        "TOUCH_MIXMONITOR_FORMAT",
        "MONITOR_EXEC",
        "MONITOR_EXEC_ARGS",
        "MIXMONITOR_FILENAME",
        "OUTBOUND_GROUP",
        "OUTBOUND_GROUP_ONCE",
        "AGI_URL",
    )
)
# Our own channel variables (controller/rules/channel_vars.py): the decision and the bill
RESERVED_PREFIX = "VOIP_"
# Function writes: only the CDR's free-text field (the billing CDR fields are refused)
WRITABLE_FUNCTIONS = frozenset(("cdr(userfield)",))
_PLAIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_JUMPS = frozenset(("goto", "gosub", "gotoif", "gosubif", "gotoiftime"))
_LABEL = re.compile(r"^(?:[0-9]{1,4}|[A-Za-z][A-Za-z0-9_-]{0,30})$")
_LITERAL_EXTEN = re.compile(r"^[0-9A-Za-z*#+_-]{1,40}$")
_LOCAL_TARGET = re.compile(
    r"^Local/(?P<exten>[0-9A-Za-z*#+_-]{1,40})@(?P<context>[a-z0-9-]{1,45})(?:/[nbj]{1,3})?$", re.I
)
_DIAL_TIMEOUT = re.compile(r"^[0-9]{0,4}$")
# ringing, transfer and hang-up keys, music on hold; not the recording keys (w W x X), parking
# (k K), nor the options that run dialplan or name a destination (G U M F b B D L S ...)
_DIAL_OPTIONS = re.compile(r"^(?:[tTrhHeiI]|m(?:\([A-Za-z0-9_-]{0,40}\))?)*$")
# FILTER's allowed characters: digits, letters, * and #, and ranges within one class only (its
# ranges are by code point: 0-z would let : ; < = > ? @ [ ] through, #-9 the comma)
_FILTER = re.compile(
    r"^(?i:FILTER)\((?P<charset>(?:[0-9]-[0-9]|[a-z]-[a-z]|[A-Z]-[A-Z]|[0-9A-Za-z*#]){1,40}),.*\)$", re.S
)
_REF = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-?[0-9]{1,3}(?::-?[0-9]{1,3})?)?$")
# what an expression of GotoIf/GosubIf may consist of, once its safe ${...} are taken out:
# no ? : , (they would split the destinations), no quotes but ", no $ but $[
_CONDITION_CHARS = re.compile(r'^[A-Za-z0-9_ \t=!<>&|+*/%()\[\]"~.$-]*$')


def _written_name_problem(app: str, name: str) -> str | None:
    """What Set, MSet and Read may write: a plain variable of the admin's own, or CDR(userfield)."""
    if "(" in name:
        if name.replace(" ", "").lower() in WRITABLE_FUNCTIONS:
            return None
        return (
            f"{app}: writing {name} is not allowed in admin overrides (only plain variables "
            "and CDR(userfield)): channel, caller ID and billing fields stay the controller's."
        )
    bare = name.lstrip("_")
    if not _PLAIN_NAME.match(bare):
        return f"{app}: {name!r} is not a plain variable name."
    if bare.upper().startswith(RESERVED_PREFIX) or bare.upper() in RESERVED_VARIABLES:
        return f"{app}: {bare} is reserved (the controller's or Asterisk's own) and cannot be set here."
    return None


def _split_top(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    """Split at `sep` outside (), {}, []."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == sep and depth == 0 and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _refs(text: str) -> list[tuple[int, int, str]]:
    """The top-level ${...} of `text`: (start, end, inside)."""
    found, i = [], 0
    while (i := text.find("${", i)) != -1:
        depth, j = 0, i + 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        found.append((i, j + 1, text[i + 2 : j]))
        i = j + 1
    return found


def _digits_only(text: str, digit_vars: frozenset[str]) -> tuple[str, bool]:
    """`text` with each ${...} replaced by 0, and whether every one of them is digits by
    construction (a Read()-only variable, or FILTER to letters and digits)."""
    out, last, safe = [], 0, True
    for start, end, inside in _refs(text):
        out.append(text[last:start] + "0")
        last = end
        if _FILTER.match(inside):
            continue
        m = _REF.match(inside)
        if not m or m.group("name").upper() not in digit_vars:
            safe = False
    out.append(text[last:])
    return "".join(out), safe


def _digit_vars(calls: list[Call]) -> frozenset[str]:
    """Variables only ever written by Read() in this text: they hold DTMF digits (0-9 * #)."""
    read, other = set(), set()
    for call in calls:
        app = call.app.lower()
        if app == "read":
            read.add(call.args.split(",", 1)[0].strip().lstrip("_").upper())
        elif app == "set":
            other.add(call.args.split("=", 1)[0].strip().lstrip("_").upper())
        elif app == "mset":
            other.update(part.split("=", 1)[0].strip().lstrip("_").upper() for part in call.args.split(","))
    return frozenset(name for name in read - other if not _NOT_DIGITS.match(name))


# Names a Read() may write but whose ${...} is not what it read: Asterisk's builtin variables
# (${EXTEN} is always the channel's extension) and Gosub's arguments (ARG1... set by the caller
# of the subroutine, from any text).
_NOT_DIGITS = re.compile(
    r"^(?:ARG[0-9]+|EXTEN|CONTEXT|PRIORITY|CHANNEL|UNIQUEID|LINKEDID|HINT|HINTNAME|INVALID_EXTEN"
    r"|CALLERID.*|CALLING.*|DNID|RDNIS|ANI.*|DIALEDPEER.*|LANGUAGE|ACCOUNTCODE|HANGUPCAUSE|EPOCH"
    r"|DATETIME|TIMESTAMP|SYSTEMNAME|ENTITYID)$"
)


_TAINT = (
    "only a variable written by Read() alone (digits) or ${FILTER(0-9,...)} may be "
    "substituted there: Asterisk substitutes before it reads the destination"
)


def _destination_problems(call: Call, dest: str, admin: set[str], digit_vars: frozenset[str]) -> list[str]:
    """[[context,]extension,]priority of a jump: into an admin context of this text, or within
    its own context; context and priority literal; a computed extension only inside an admin
    context and only from digits."""
    dest = dest.strip()
    problems = []
    if call.app.lower() in ("gosub", "gosubif") and dest.endswith(")") and "(" in dest:
        dest, args = dest[: dest.index("(")], dest[dest.index("(") :]  # never the label
        if call.app.lower() == "gosubif":
            # GosubIf splits its two destinations at ':' after substituting: a caller's ")" and
            # ":" in an argument (CALLERID(name) = "x):dial-out,dial,1(") would write the other one
            rest, safe = _digits_only(args, digit_vars)
            if not safe or "$" in rest:
                problems.append(f"{call.app}: the arguments {args} are not digits by construction; {_TAINT}.")
    parts = [p.strip() for p in _split_top(dest, ",")]
    if not dest or len(parts) > 3:
        return [f"{call.app}: {dest!r} is not [[context,]extension,]priority."]
    context, exten, prio = ([None] * (3 - len(parts)) + parts)[-3:]
    if context is not None:
        if "$" in context:
            return [f"{call.app}: the context may not be computed ({context}); {_TAINT}."]
        if context not in admin:
            return problems + [
                f"{call.app} into [{context}] is not allowed: an override jumps only into your own "
                "[admin-...] contexts of this text (the generated contexts bill calls, carry out "
                "the controller's decisions or reach the PSTN)."
            ]
    target = context or call.context
    if exten is not None:
        if "$" in exten:
            rest, safe = _digits_only(exten, digit_vars)
            if not ADMIN_CONTEXT.match(target):
                problems.append(
                    f"{call.app}: a computed extension is only allowed in a jump into an [admin-...] "
                    f"context, not in [{target}]."
                )
            elif not safe:
                problems.append(f"{call.app}: the extension {exten} is not digits by construction; {_TAINT}.")
            elif not _LITERAL_EXTEN.match(rest):
                # $[...] could put "context,extension" there: Asterisk splits after substituting
                problems.append(
                    f"{call.app}: the extension {exten} may combine only written-out characters and "
                    "${...} of digits, no $[...] expression."
                )
        elif not _LITERAL_EXTEN.match(exten):
            problems.append(f"{call.app}: {exten!r} is not an extension.")
    if prio is not None and not _LABEL.match(prio):
        problems.append(f"{call.app}: the priority or label {prio!r} must be written out.")
    return problems


def _condition_problems(call: Call, condition: str, digit_vars: frozenset[str]) -> list[str]:
    rest, safe = _digits_only(condition, digit_vars)
    if not safe:
        return [f"{call.app}: the condition {condition.strip()} is not digits by construction; {_TAINT}."]
    if not _CONDITION_CHARS.match(rest) or "${" in rest or re.search(r"\$(?!\[)", rest):
        return [
            f"{call.app}: the condition may use digits, letters, spaces, quotes and the operators "
            "of $[...] but not ? : , or other substitutions."
        ]
    return []


def _target_problems(parsed: Parsed) -> list[Problem]:
    admin = {name for name in parsed.contexts if ADMIN_CONTEXT.match(name)}
    digit_vars = _digit_vars(parsed.calls)
    problems: list[Problem] = []
    for call in parsed.calls:
        app, args = call.app.lower(), call.args
        found: list[str] = []
        if app in ("goto", "gosub"):
            found += _destination_problems(call, args, admin, digit_vars)
        elif app in ("gotoif", "gosubif", "gotoiftime"):
            head, *rest = _split_top(args, "?", 1)
            if not rest:
                found.append(f"{call.app}: write condition?destination[:destination].")
            else:
                if app == "gotoiftime":
                    if "$" in head:
                        found.append(f"{call.app}: the times must be written out.")
                else:
                    found += _condition_problems(call, head, digit_vars)
                for dest in _split_top(rest[0], ":", 1):
                    if dest.strip():
                        found += _destination_problems(call, dest, admin, digit_vars)
        elif app == "dial":
            found += _dial_problems(call, admin)
        elif app == "background":
            parts = _split_top(args, ",")
            if len(parts) > 3 and parts[3].strip() and parts[3].strip() not in admin:
                found.append(
                    f"Background: digits may only jump into your own [admin-...] contexts of this "
                    f"text, not [{parts[3].strip()}]."
                )
        elif app == "stasis" and "$" in args:
            found.append("Stasis: the application and its arguments must be written out.")
        problems += [Problem(call.line, message) for message in found]
    return problems


def _dial_problems(call: Call, admin: set[str]) -> list[str]:
    """Dial rings only Local/<extension>@<admin context>: never a trunk, a SIP endpoint or URI,
    nor a computed target (calls out go through the controller: billing, permissions)."""
    if "$" in call.args:
        return [
            "Dial: the target, timeout and options must be written out: a computed target could "
            "dial anywhere without billing."
        ]
    parts = [p.strip() for p in _split_top(call.args, ",")]
    problems = []
    for target in parts[0].split("&"):
        m = _LOCAL_TARGET.match(target.strip())
        if not m or m.group("context") not in admin:
            problems.append(
                f"Dial({target.strip()}): an override may only Dial Local/<extension>@<one of your "
                "[admin-...] contexts>; trunks, SIP endpoints and the generated contexts are "
                "reached only through the controller (billing and permissions)."
            )
    if len(parts) > 1 and not _DIAL_TIMEOUT.match(parts[1]):
        problems.append(f"Dial: the timeout {parts[1]!r} is not a number of seconds.")
    if len(parts) > 2 and not _DIAL_OPTIONS.match(parts[2]):
        problems.append(
            f"Dial: the options {parts[2]!r} are not allowed (only t T r h H e i I m); options that run "
            "dialplan or record (G, U, M, F, b, B, D, w, x...) are refused."
        )
    if len(parts) > 3:
        problems.append("Dial: only target, timeout and options are allowed.")
    return problems


def _computed_name(args: str) -> bool:
    """`${SH${X}ELL(...)}` or `${${X}}`: Asterisk substitutes the inner part first, so the outer
    name could become any function; every name inside ${ } must be literal."""
    start = 0
    while (i := args.find("${", start)) != -1:
        j = i + 2
        while j < len(args) and args[j] not in "(}:":
            if args[j] == "$":
                return True
            j += 1
        start = i + 2
    return False


def overridable(context: str) -> bool:
    return context in (FEATURE_CONTEXT, SIM_PSTN) or bool(ADMIN_CONTEXT.match(context))


def validate(text: str, *, generated: str) -> list[Problem]:
    """Every problem of `text` as an override of the `generated` extensions.conf."""
    if len(text) > MAX_CHARS:
        return [Problem(0, f"The overrides are longer than {MAX_CHARS:,} characters.")]
    if text.count("\n") >= MAX_LINES:
        return [Problem(0, f"The overrides have more than {MAX_LINES:,} lines.")]
    parsed = parse(text)
    problems = list(parsed.problems) + _target_problems(parsed)
    base = parse(generated, strict=False)
    for name, exts in parsed.contexts.items():
        line = parsed.context_lines.get(name, 0)
        if not overridable(name):
            kind = "generated" if name in base.contexts else "not an overridable context"
            problems.append(
                Problem(
                    line,
                    f"[{name}] is {kind}: only [{FEATURE_CONTEXT}] feature codes, "
                    f"[{SIM_PSTN}] and your own [admin-...] contexts (lowercase "
                    "letters, digits and dashes) may be written here.",
                )
            )
            continue
        for exten, ext in exts.items():
            if exten in base.contexts.get(name, {}):
                problems.append(
                    Problem(ext.line, f"Extension {exten} of [{name}] is generated and cannot be overridden.")
                )
    for name, includes in parsed.includes.items():
        for target, line in includes:
            if not ADMIN_CONTEXT.match(name):
                problems.append(
                    Problem(
                        line, f"include => is only allowed in your own [admin-...] contexts, not in [{name}]."
                    )
                )
            elif not ADMIN_CONTEXT.match(target):
                # not [sim-pstn] either (issue 13 item 9): a feature code that jumps into an admin
                # context including it would call the simulated PSTN unbilled
                problems.append(
                    Problem(line, f"[{target}] may not be included: only your own [admin-...] contexts.")
                )
            elif ADMIN_CONTEXT.match(target) and target not in parsed.contexts:
                problems.append(Problem(line, f"include => {target}: there is no [{target}] context here."))
    return sorted(set(problems), key=lambda p: (p.line, p.message))


def file_text(body: str) -> str:
    """extensions_admin.conf as written into Asterisk's config dir."""
    body = body.replace("\r\n", "\n").rstrip()
    head = (
        "; Operator admin overrides of the dialplan, included at the end of extensions.conf.\n"
        "; Written by the panel's Dialplan page (validated, versioned, audited): edit it there.\n"
    )
    return head + (body + "\n" if body else "")


def load_applied(settings: Settings) -> str | None:
    """The newest applied override from the database, or None when there is none or the database
    cannot be read (rendering must work without a database: fresh checkouts, CI)."""
    try:
        import psycopg

        url = settings.database_url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SELECT body FROM dialplan_versions ORDER BY id DESC LIMIT 1").fetchone()
    except Exception as exc:  # unreachable database, or one not migrated to 0008 yet
        print(
            f"asterisk_conf: no admin dialplan overrides from the database ({exc.__class__.__name__})",
            file=sys.stderr,
        )
        return None
    if not row:
        return None
    # a version applied under an older, weaker rule is not rendered as it is: the rule of today
    # decides (review of issue 13 item 9: `;--` comments, GosubIf arguments), and a refused
    # version leaves only the generated dialplan running until the admin applies a valid one
    from asterisk_conf.render import render_all

    problems = validate(row[0], generated=render_all(settings)["extensions.conf"])
    if problems:
        print(
            "asterisk_conf: the applied admin dialplan overrides are refused by today's rules and "
            f"are left out: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            file=sys.stderr,
        )
        return None
    return str(row[0])
