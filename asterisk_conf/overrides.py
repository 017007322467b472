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
session cannot become a shell on the Asterisk host.

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


@dataclass
class Parsed:
    """What a dialplan text defines: context -> extensions, context -> includes."""

    contexts: dict[str, dict[str, Extension]] = field(default_factory=dict)
    includes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    context_lines: dict[str, int] = field(default_factory=dict)  # where each context first opens

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
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if strict and raw.lstrip().startswith(";--"):
            out.problems.append(
                Problem(lineno, "Block comments (;-- --;) are not supported; start each comment line with ;.")
            )
            continue
        line = _strip_comment(raw)
        if not line:
            continue
        if strict and any(ord(ch) < 32 and ch != "\t" for ch in line):
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
                _check_app(out, lineno, app)
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
                _check_app(out, lineno, parts[1].strip())
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


def _check_app(out: Parsed, lineno: int, call: str) -> None:
    m = _APP.match(call)
    if not m:
        out.problems.append(Problem(lineno, f"{call!r} is not Application(arguments)."))
        return
    app, args = m.group("app"), m.group("args") or ""
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
        if lowered in FORBIDDEN_FUNCTIONS:
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
    problems = list(parsed.problems)
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
            elif not ADMIN_CONTEXT.match(target) and target != SIM_PSTN:
                problems.append(
                    Problem(
                        line, f"[{target}] may not be included: only [admin-...] contexts and [{SIM_PSTN}]."
                    )
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
    return row[0] if row else None
