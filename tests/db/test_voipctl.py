"""The operator CLI against the real database: accounts, numbers, SIP passwords, rate decks,
demo data, config rendering."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from controller.cli import main
from controller.rules.secrets import sip_md5_cred
from db.models import Rate, RateDeck, User, VirtualNumber
from tests.support.carriers import disable_demo_carriers
from tests.support.realparts import unique_number


def run(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_account_number_and_generated_sip_password(database, factory):
    number = unique_number()
    r = run("account", "create", "--number", number, "--password", "Cli-Pass-12345", "--first", "Ann")
    assert r.exit_code == 0 and "primary login " + number in r.output
    with factory() as s:
        account_id = s.scalar(select(VirtualNumber.account_id).where(VirtualNumber.number == number))
    second = unique_number()
    assert run("number", "add", str(account_id), second).exit_code == 0
    r = run("number", "sip-password", second)
    password = r.output.strip().rsplit(" ", 1)[-1]
    with factory() as s:
        ha1 = s.scalar(select(VirtualNumber.sip_md5_cred).where(VirtualNumber.number == second))
    assert ha1 == sip_md5_cred(second, database.sip_realm, password) and len(password) >= 16


def test_rates_import_activates_the_new_deck_and_rejects_bad_lines(database, factory, tmp_path):
    good = tmp_path / "deck.csv"
    good.write_text(
        "prefix,destination,country,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
        "1,US,US,0.01,0,6,6\n44,UK,GB,0.02,0,60,60\n"
    )
    r = run("rates", "import", str(good), "--name", "cli-deck")
    assert r.exit_code == 0 and "2 prefixes" in r.output
    with factory() as s:
        deck = s.scalar(select(RateDeck).where(RateDeck.active.is_(True)))
        assert deck.name == "cli-deck"
        assert s.scalar(
            select(Rate.rate_per_minute).where(Rate.deck_id == deck.id, Rate.prefix == "44")
        ) == __import__("decimal").Decimal("0.02000")
    bad = tmp_path / "bad.csv"
    bad.write_text("prefix,rate_per_minute\n1x,0.01\n")
    r = CliRunner().invoke(main, ["rates", "import", str(bad)])
    assert r.exit_code != 0
    with factory() as s:  # nothing changed: the good deck is still the active one
        assert s.scalar(select(RateDeck.name).where(RateDeck.active.is_(True))) == "cli-deck"


@pytest.fixture()
def demo_carriers_off(factory):
    yield
    disable_demo_carriers(factory)


def test_demo_seed_is_idempotent_and_prints_the_logins(database, factory, demo_carriers_off):
    first = run("demo", "seed")
    second = run("demo", "seed")
    assert first.exit_code == 0 and first.output == second.output
    assert "17005550101" in first.output and "admin" in first.output
    with factory() as s:
        assert s.scalar(select(User).where(User.login == "admin")).role == "admin"


def test_asterisk_config_render_writes_every_file(tmp_path):
    r = run("asterisk-config", "render", "--out", str(tmp_path))
    assert r.exit_code == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {
        "asterisk.conf",
        "modules.conf",
        "pjsip.conf",
        "sorcery.conf",
        "extconfig.conf",
        "res_pgsql.conf",
        "cdr_pgsql.conf",
        "http.conf",
        "ari.conf",
        "manager.conf",
        "rtp.conf",
        "logger.conf",
        "extensions.conf",
    } <= names
    assert "require = res_config_pgsql.so" in (tmp_path / "modules.conf").read_text()
