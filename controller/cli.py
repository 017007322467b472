"""voipctl: the operator's command line.

voipctl db create|upgrade|downgrade|reset
voipctl account create --number N --password P [--first F --last L --email E]
voipctl number add ACCOUNT_ID NUMBER
voipctl number sip-password NUMBER [--password P]   (generated and printed once when omitted)
voipctl rates import FILE.csv [--name NAME]
voipctl carriers list|add NAME --host H [...]|import-rates NAME FILE.csv
voipctl demo seed
voipctl invoices issue --month YYYY-MM [--account N] [--email]
voipctl api-token create --user LOGIN --scope read|member|operator [--name N --days D]   (printed once)
voipctl api-token revoke TOKEN_ID
voipctl user 2fa-reset LOGIN   (turns two-factor login off: lost phone and recovery codes)
voipctl asterisk-config render --out DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import select

from controller.services import realtime_cache
from controller.settings import load
from db import accounts, migrate
from db.errors import ServiceError
from db.models import Account, VirtualNumber
from db.session import make_engine, session_factory, transaction


def _factory():
    settings = load()
    factory = session_factory(make_engine(settings))
    realtime_cache.expire_on_commit(factory, settings)  # a changed SIP password is live at once
    return factory


@click.group(help=__doc__.split("\n\n")[0])
def main() -> None:
    pass


@main.group(help="Create and migrate the database.")
def db() -> None:
    pass


@db.command("create")
def db_create() -> None:
    created = migrate.create_database(load())
    click.echo("database created" if created else "database exists")


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    migrate.create_database(load())
    migrate.upgrade(load(), revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision", default="base")
def db_downgrade(revision: str) -> None:
    migrate.downgrade(load(), revision)
    click.echo(f"database at {revision}")


@db.command("reset")
@click.confirmation_option(prompt="Drop the database and everything in it?")
def db_reset() -> None:
    migrate.create_database(load(), drop_first=True)
    migrate.upgrade(load())
    click.echo("database recreated at head")


@main.group(help="Member accounts.")
def account() -> None:
    pass


@account.command("create")
@click.option("--number", required=True, help="first virtual number; also the primary holder's login")
@click.option("--password", required=True, help="panel password of the primary account holder")
@click.option("--first", default="")
@click.option("--last", default="")
@click.option("--email", default="")
def account_create(number: str, password: str, first: str, last: str, email: str) -> None:
    settings = load()
    with transaction(_factory()) as s:
        acc, user, vn = accounts.create_account(
            s,
            login_number=number,
            password=password,
            first_name=first,
            last_name=last,
            email=email,
            realm=settings.sip_realm,
        )
        click.echo(f"account {acc.id} created; primary login {user.login}")


@main.group(help="Virtual numbers.")
def number() -> None:
    pass


@number.command("add")
@click.argument("account_id", type=int)
@click.argument("number")
def number_add(account_id: int, number: str) -> None:
    with transaction(_factory()) as s:
        acc = s.get(Account, account_id)
        if acc is None:
            raise click.ClickException(f"no account {account_id}")
        vn = accounts.add_virtual_number(s, acc, number, realm=load().sip_realm)
        click.echo(f"virtual number {vn.number} added to account {acc.id}")


@number.command("sip-password")
@click.argument("number")
@click.option("--password", default=None, help="omit to generate a strong one (shown once)")
def number_sip_password(number: str, password: str | None) -> None:
    with transaction(_factory()) as s:
        vn = s.scalar(select(VirtualNumber).where(VirtualNumber.number == number))
        if vn is None:
            raise click.ClickException(f"no virtual number {number}")
        shown = accounts.set_sip_password(s, vn, password, realm=load().sip_realm)
        click.echo(f"SIP password for {number}: {shown}" if password is None else "SIP password set")


@main.group(help="The rate deck.")
def rates() -> None:
    pass


@rates.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None)
def rates_import(path: Path, name: str | None) -> None:
    from db.rates import import_deck, parse_deck

    with path.open(newline="") as f:
        rows = parse_deck(f)
    with transaction(_factory()) as s:
        deck = import_deck(s, name or path.stem, rows)
        click.echo(f"rate deck {deck.id} ({deck.name}): {len(rows)} prefixes, now active")


# --- issue 14: carriers (the admin helper's section) ---


@main.group(help="The operator's SIP carriers (issue 14).")
def carriers() -> None:
    pass


@carriers.command("list")
def carriers_list() -> None:
    from db import carriers as db_carriers

    with transaction(_factory()) as s:
        sizes = db_carriers.deck_sizes(s)
        for c in db_carriers.listing(s):
            state = "enabled" if c.enabled else "disabled"
            click.echo(
                f"{c.name}\t{c.host}:{c.port}/{c.transport}\t{state}\tpriority {c.priority} weight {c.weight}"
                f"\t{sizes.get(c.id, 0)} prefixes\t{db_carriers.endpoint_id(c.name)}"
            )


@carriers.command("add")
@click.argument("name")
@click.option("--host", required=True, help="hostname or IP address")
@click.option("--port", default="5060")
@click.option("--inbound-match", default="", help="comma-separated addresses/networks calls come from")
@click.option("--auth-user", default="", help="outbound authentication username")
@click.option("--realm", default="", help="the carrier's realm (needed with --auth-type md5)")
@click.option("--auth-type", type=click.Choice(["userpass", "md5"]), default="userpass")
@click.option("--tech-prefix", default="")
@click.option("--codecs", default="ulaw,alaw")
@click.option("--max-channels", default="0")
@click.option("--setup-timeout", default="8")
@click.option("--priority", default="0")
@click.option("--weight", default="1")
@click.option("--disabled", is_flag=True, help="add it disabled")
def carriers_add(
    name: str,
    host: str,
    port: str,
    inbound_match: str,
    auth_user: str,
    realm: str,
    auth_type: str,
    tech_prefix: str,
    codecs: str,
    max_channels: str,
    setup_timeout: str,
    priority: str,
    weight: str,
    disabled: bool,
) -> None:
    """Add carrier NAME (the password, when --auth-user is given, is asked for: never an argument,
    which other users could read in the process list)."""
    from db import carriers as db_carriers

    password = click.prompt("Carrier password", hide_input=True) if auth_user else ""
    data = {
        "name": name,
        "host": host,
        "port": port,
        "inbound_match": inbound_match,
        "auth_username": auth_user,
        "auth_realm": realm,
        "auth_type": auth_type,
        "tech_prefix": tech_prefix,
        "codecs": codecs,
        "max_channels": max_channels,
        "setup_timeout": setup_timeout,
        "priority": priority,
        "weight": weight,
        "enabled": not disabled,
    }
    with transaction(_factory()) as s:
        c = db_carriers.create(s, None, data, password=password, remote_addr="voipctl")
        click.echo(f"carrier {c.name} added (Asterisk endpoint {db_carriers.endpoint_id(c.name)})")


@carriers.command("import-rates")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def carriers_import_rates(name: str, path: Path) -> None:
    """Replace carrier NAME's whole buy deck with the CSV file (the sell deck's format)."""
    from db import carriers as db_carriers

    with transaction(_factory()) as s:
        c = db_carriers.find(s, name)
        if c is None:
            raise ServiceError(f"There is no carrier {name}.")
        with path.open(newline="", encoding="utf-8-sig") as f:
            count = db_carriers.import_buy_deck(s, None, c, f, remote_addr="voipctl")
        click.echo(f"buy deck of {name}: {count} prefixes")


# --- end issue 14: carriers ---


@main.group(help="Demo data.")
def demo() -> None:
    pass


@demo.command("seed")
def demo_seed() -> None:
    from controller.demo import seed

    with transaction(_factory()) as s:
        for line in seed(s, load()):
            click.echo(line)


@main.group(help="Monthly invoices (issue 15).")
def invoices() -> None:
    pass


@invoices.command("issue")
@click.option("--month", "month_text", required=True, help="YYYY-MM, a month that has ended")
@click.option("--account", "account_id", type=int, default=None, help="only this account")
@click.option("--email", is_flag=True, help="then email every invoice not emailed yet")
def invoices_issue(month_text: str, account_id: int | None, email: bool) -> None:
    from controller.services import invoicing
    from db.invoices import parse_month

    try:
        year, month = parse_month(month_text)
    except ServiceError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    settings = load()
    factory = session_factory(make_engine(settings))
    ids = [account_id] if account_id is not None else None
    result = invoicing.issue_month(factory, settings, year, month, account_ids=ids)
    for number in result.issued:
        click.echo(f"issued {number}")
    for failed_id, why in result.failed.items():
        click.echo(f"account {failed_id}: {why}", err=True)
    if email:
        sent = invoicing.send_pending(factory, settings, limit=100_000, account_id=account_id)
        for number in sent.sent:
            click.echo(f"emailed {number}")
        for number, why in sent.failed.items():
            click.echo(f"not emailed {number}: {why}", err=True)
    if result.failed:
        sys.exit(1)


@main.group("api-token", help="REST API tokens (issue 15).")
def api_token() -> None:
    pass


@api_token.command("create")
@click.option("--user", "login", required=True, help="an operator's login, or a primary account holder's")
@click.option("--scope", type=click.Choice(["read", "member", "operator"]), required=True)
@click.option("--name", default="voipctl", help="what will use it")
@click.option("--days", type=int, default=None, help="expires after this many days (default: never)")
def api_token_create(login: str, scope: str, name: str, days: int | None) -> None:
    from db import api_tokens
    from db.models import User

    with transaction(_factory()) as s:
        user = s.scalar(select(User).where(User.login == login))
        if user is None:
            raise click.ClickException(f"no user {login}")
        try:
            row, secret = api_tokens.create(s, user, name=name, scope=scope, expires_in_days=days)
        except ServiceError as exc:
            raise click.ClickException(str(exc)) from None
        token_id = row.id
    click.echo(f"token {token_id} ({scope}) for {login}; shown only now:", err=True)
    click.echo(secret)


@api_token.command("revoke")
@click.argument("token_id", type=int)
def api_token_revoke(token_id: int) -> None:
    from db import api_tokens
    from db.models import ApiToken, User

    with transaction(_factory()) as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise click.ClickException(f"no token {token_id}")
        owner = s.get_one(User, row.user_id)
        click.echo("revoked" if api_tokens.revoke(s, owner, row) else "already revoked")


@main.group(help="Panel logins (issue 16).")
def user() -> None:
    pass


@user.command("2fa-reset")
@click.argument("login")
def user_2fa_reset(login: str) -> None:
    """Turn LOGIN's two-factor login off (its owner lost the phone and the recovery codes)."""
    from db import twofactor
    from db.models import User

    with transaction(_factory()) as s:
        found = s.scalar(select(User).where(User.login == login))
        if found is None:
            raise click.ClickException(f"no user {login}")
        was_on = twofactor.operator_reset(s, found)
    click.echo(f"two-factor login of {login} turned off" if was_on else f"{login} had no two-factor login")


@main.group("asterisk-config", help="Asterisk's configuration.")
def asterisk_config() -> None:
    pass


@asterisk_config.command("render")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def asterisk_config_render(out: Path) -> None:
    from asterisk_conf.render import write

    for path in write(load(), out):
        click.echo(str(path))


def run() -> None:
    try:
        main(standalone_mode=True)
    except ServiceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
