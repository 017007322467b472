"""Render every file Asterisk needs from templates/ and the environment settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jinja2

from asterisk_conf.overrides import ADMIN_FILE, load_applied
from asterisk_conf.overrides import file_text as admin_file_text
from controller.rules import channel_vars
from controller.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
TRUNK_ENDPOINT = "pstn-trunk"


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


def context(settings: Settings) -> dict:
    inst = settings.asterisk_instance_dir or ""
    return {
        "s": settings,
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
    settings: Settings, overrides: dict[str, str] | None = None, admin_dialplan: str | None = None
) -> dict[str, str]:
    """File name -> content. `overrides` maps a file name to extra text appended to it.
    `admin_dialplan` is the operator admin's part of the dialplan (asterisk_conf.overrides),
    rendered as extensions_admin.conf, which the generated extensions.conf includes."""
    env = environment()
    ctx = context(settings)
    files: dict[str, str] = {}
    for tpl in sorted(TEMPLATES.glob("*.j2")):
        name = tpl.name.removesuffix(".j2")
        if name == "asterisk.conf" and not ctx["inst"]:
            # stock directories: a packaged Asterisk (Docker) keeps Debian's layout
            ctx_ = dict(ctx, inst="")
            text = env.get_template(tpl.name).render(**ctx_)
            text = _stock_dirs(text)
        else:
            text = env.get_template(tpl.name).render(**ctx)
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


FROM_DATABASE = object()


def write(
    settings: Settings,
    out: Path,
    overrides: dict[str, str] | None = None,
    admin_dialplan: str | None | object = FROM_DATABASE,
) -> list[Path]:
    """Render every file into `out`. By default the admin's dialplan overrides are the newest
    version applied from the panel (read from the database when it can be), so re-rendering
    the config never silently drops them."""
    if admin_dialplan is FROM_DATABASE:
        admin_dialplan = load_applied(settings)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all(settings, overrides, admin_dialplan).items():  # type: ignore[arg-type]
        path = out / name
        path.write_text(text)
        path.chmod(0o640)  # holds database and ARI/AMI credentials
        written.append(path)
    return written
