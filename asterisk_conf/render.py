"""Render every file Asterisk needs from templates/ and the environment settings.

templates/*.j2 are production's, one per config file. templates/test/ holds the test suite's own
dialplan (extensions_test.conf) and SIP peers (pjsip_test.conf: the carrier and the fax machines
on 127.0.0.2), rendered only for the test instance (`test_dialplan=True`), whose extensions.conf
and pjsip.conf then include them: production carries no test context and no test peer.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from pathlib import Path
from typing import Any, Literal

import jinja2

from asterisk_conf.overrides import ADMIN_FILE, load_applied
from asterisk_conf.overrides import file_text as admin_file_text
from controller.rules import channel_vars
from controller.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
TEST_TEMPLATES = TEMPLATES / "test"
TRUNK_ENDPOINT = "pstn-trunk"
# a dial string into the simulated PSTN context (VOIP_PSTN_DIAL's default, Local/{number}@sim-pstn/n)
_SIM_PSTN_DIAL = re.compile(rf"@{re.escape(channel_vars.CTX_SIM_PSTN)}(?![\w-])")


def _var(name: str) -> str:
    """`${NAME}` for the dialplan, without fighting Jinja's braces."""
    return "${" + name + "}"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals["var"] = _var
    return env


def dials_sim_pstn(settings: Settings) -> bool:
    """Whether PSTN calls go to the simulated PSTN: then its context is part of the dialplan (the
    demo, the sandbox, an install without a real trunk); a deployment that dials a real trunk
    gets no simulator."""
    return _SIM_PSTN_DIAL.search(settings.pstn_dial) is not None


def context(settings: Settings, *, test_dialplan: bool = False) -> dict[str, Any]:
    inst = settings.asterisk_instance_dir or ""
    return {
        "s": settings,
        "test_dialplan": test_dialplan,
        # the test contexts call into the simulator whatever VOIP_PSTN_DIAL says
        "sim_pstn": test_dialplan or dials_sim_pstn(settings),
        "c": channel_vars,
        "inst": inst,
        "trunk": TRUNK_ENDPOINT,
        "refusals": channel_vars.REFUSALS,
        "callingcard_numbers": [
            n.strip() for n in settings.callingcard_numbers.split(",") if n.strip().isdigit()
        ],
        "emergency_fallback": settings.pstn_dial.format(number="911"),
        "ami_permits": [p.strip() for p in settings.ami_permit.split(",") if p.strip()],
        "generated_note": "do not edit: generated " + dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
    }


def render_all(
    settings: Settings,
    overrides: dict[str, str] | None = None,
    admin_dialplan: str | None = None,
    *,
    test_dialplan: bool = False,
) -> dict[str, str]:
    """File name -> content. `overrides` maps a file name to extra text appended to it.
    `admin_dialplan` is the operator admin's part of the dialplan (asterisk_conf.overrides),
    rendered as extensions_admin.conf, which the generated extensions.conf includes.
    `test_dialplan` adds the test suite's contexts (templates/test/): the test instance only."""
    env = environment()
    ctx = context(settings, test_dialplan=test_dialplan)
    templates = sorted(TEMPLATES.glob("*.j2"))
    if test_dialplan:
        test_templates = sorted(TEST_TEMPLATES.glob("*.j2"))
        if not test_templates:  # an installed package ships production's templates only
            raise FileNotFoundError(f"no test dialplan templates in {TEST_TEMPLATES}")
        templates += test_templates
    files: dict[str, str] = {}
    for tpl in templates:
        name = tpl.name.removesuffix(".j2")
        template = env.get_template(tpl.relative_to(TEMPLATES).as_posix())
        if name == "asterisk.conf" and not ctx["inst"]:
            # stock directories: a packaged Asterisk (Docker) keeps Debian's layout
            text = _stock_dirs(template.render(**ctx))
        else:
            text = template.render(**ctx)
        if overrides and name in overrides:
            text += "\n; --- admin overrides\n" + overrides[name].rstrip() + "\n"
        files[name] = text
    files[ADMIN_FILE] = admin_file_text(admin_dialplan or "")
    return files


def _stock_dirs(text: str) -> str:
    stock = {
        "astcachedir": "/var/cache/asterisk",
        "astetcdir": "/etc/asterisk",
        "astvarlibdir": "/var/lib/asterisk",
        "astdbdir": "/var/lib/asterisk",
        "astkeydir": "/var/lib/asterisk",
        "astspooldir": "/var/spool/asterisk",
        "astrundir": "/var/run/asterisk",
        "astlogdir": "/var/log/asterisk",
    }
    out = []
    for line in text.splitlines():
        key = line.split("=>")[0].strip()
        out.append(f"{key} => {stock[key]}" if key in stock else line)
    return "\n".join(out) + "\n"


class _FromDatabase(enum.Enum):
    """`write`'s default for the admin's overrides: a sentinel mypy can narrow away."""

    FROM_DATABASE = enum.auto()


FROM_DATABASE = _FromDatabase.FROM_DATABASE


def write(
    settings: Settings,
    out: Path,
    overrides: dict[str, str] | None = None,
    admin_dialplan: str | None | Literal[_FromDatabase.FROM_DATABASE] = FROM_DATABASE,
    *,
    test_dialplan: bool = False,
) -> list[Path]:
    """Render every file into `out`. By default the admin's dialplan overrides are the newest
    version applied from the panel (read from the database when it can be), so re-rendering
    the config never silently drops them."""
    if admin_dialplan is FROM_DATABASE:
        admin_dialplan = load_applied(settings)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    files = render_all(settings, overrides, admin_dialplan, test_dialplan=test_dialplan)
    for name, text in files.items():
        path = out / name
        path.write_text(text)
        path.chmod(0o640)  # holds database and ARI/AMI credentials
        written.append(path)
    return written
