"""Which committed writes expire a number's cached PJSIP objects in Asterisk
(controller/services/realtime_cache.py), on the real database: what the realtime views publish,
and nothing else, only once committed. Asterisk's side is tests/asterisk/test_database_outage.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

from controller.services import realtime_cache
from db import accounts
from db.models import Account, VirtualNumber
from db.session import session_factory, transaction
from tests.support.members import make_member
from tests.support.realparts import unique_number


@pytest.fixture()
def expired(monkeypatch) -> list:
    """Each expiry asked for: a set of numbers, or None for everything."""
    calls: list = []
    monkeypatch.setattr(realtime_cache, "expire", lambda settings, numbers: calls.append(numbers))
    return calls


@pytest.fixture()
def hooked(engine, database):
    made = session_factory(engine)
    realtime_cache.expire_on_commit(made, database)
    return made


def _vn(s, number: str) -> VirtualNumber:
    return s.scalars(select(VirtualNumber).where(VirtualNumber.number == number)).one()


def test_the_published_columns_are_those_the_realtime_views_read(factory):
    with factory() as s:
        rows = s.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.view_column_usage"
                # ps_aors wraps 0020's view, ps_aors_v0020 (migration 0034): what that one reads
                " WHERE view_name IN ('ps_endpoints', 'ps_auths', 'ps_aors', 'ps_aors_v0020')"
                " AND table_name <> 'ps_aors_v0020'"
            )
        ).all()
        # the views read carriers through realtime_carriers() (migration 0020: a lock on the table
        # must not stall members' lookups), whose result columns are carriers' own, by name
        through_function = s.scalar(
            text(
                "SELECT array_agg(n) FROM pg_proc, unnest(proargnames, proargmodes) AS a(n, m)"
                " WHERE proname = 'realtime_carriers' AND m = 't'"
            )
        )
    used: dict[str, set[str]] = {}
    for table, column in rows:
        used.setdefault(table, set()).add(column)
    used.setdefault("carriers", set()).update(through_function or ())
    assert used == {table: set(columns) for table, columns in realtime_cache.PUBLISHED.items()}


def test_a_new_member_expires_nothing(hooked, database, expired):
    make_member(hooked, database, mpo=True)
    assert expired == []


@pytest.mark.parametrize(
    "change",
    [
        lambda s, vn, realm: accounts.set_sip_password(s, vn, "Changed-Pass-31", realm=realm),
        lambda s, vn, realm: accounts.update_options(s, vn, as_primary=True, mpo=True),
        lambda s, vn, realm: setattr(vn, "display_name", "Renamed"),
        lambda s, vn, realm: setattr(vn, "max_contacts", 5),
    ],
    ids=["sip_password", "mpo", "display_name", "max_contacts"],
)
def test_a_committed_change_to_what_asterisk_reads_expires_that_number(
    hooked, factory, database, expired, change
):
    m = make_member(factory, database)
    with transaction(hooked) as s:
        change(s, _vn(s, m.number), database.sip_realm)
    assert expired == [{m.number}]


def test_other_options_and_a_rolled_back_change_expire_nothing(hooked, factory, database, expired):
    m = make_member(factory, database)
    with transaction(hooked) as s:
        accounts.update_options(s, _vn(s, m.number), as_primary=True, allow_us_canada_ld=True)
    with hooked() as s:
        _vn(s, m.number).mpo = True
        s.flush()
        s.rollback()
        assert expired == []
        _vn(s, m.number).white_pages = True
        s.commit()
    assert expired == []


def test_an_accounts_status_or_language_expires_each_of_its_numbers(hooked, factory, database, expired):
    m = make_member(factory, database)
    second = unique_number()
    with transaction(factory) as s:
        accounts.add_virtual_number(s, s.get_one(Account, m.account_id), second, realm=database.sip_realm)
    with transaction(hooked) as s:
        s.get_one(Account, m.account_id).status = "suspended"
    with transaction(hooked) as s:
        s.get_one(Account, m.account_id).language = "fr"
    with transaction(hooked) as s:
        s.get_one(Account, m.account_id).first_name = "Other"
    assert expired == [{m.number, second}, {m.number, second}]


def test_a_renumbered_or_deleted_number_expires_the_old_and_new_ids(hooked, factory, database, expired):
    m = make_member(factory, database)
    renumbered = unique_number()
    with transaction(hooked) as s:
        _vn(s, m.number).number = renumbered
    with transaction(hooked) as s:
        s.delete(_vn(s, renumbered).forwarding)
        s.delete(_vn(s, renumbered))
    assert expired == [{m.number, renumbered}, {renumbered}]


def test_a_bulk_update_expires_everything(hooked, factory, database, expired):
    m = make_member(factory, database)
    with transaction(hooked) as s:
        s.execute(update(VirtualNumber).where(VirtualNumber.id == m.vn_id).values(mpo=True))
    assert expired == [None]
