"""The session's User and Account kept per process (webpanel/auth/sessions.py) and the layout's
top kept per process (webpanel/nav.py layout_top): what another session changes shows on the next
page, a member never sees another's top, writes through g.user are persisted and a rolled-back
one leaves nothing behind."""

from __future__ import annotations

import re
import threading
import time
from html import unescape

from sqlalchemy import delete, select, update

from db import accounts
from db.models import Account, Buddy, User, VirtualNumber
from db.session import transaction
from tests.support.panel import sign_in_user
from webpanel import access, nav
from webpanel.auth import sessions
from webpanel.call_history import kept

from .conftest import CSRF_RE, page, sign_in


def _token(client) -> str:
    with client.session_transaction() as sess:
        return sess[access.SESSION_TOKEN]


def _limits():
    import datetime as dt

    return sessions.Limits(lifetime=dt.timedelta(hours=8), idle=dt.timedelta(minutes=30))


def _whoami(html: str) -> str:
    match = re.search(r'<span class="whoami">([^<]*)<span class="badge">([^<]*)</span>', html)
    assert match, "no whoami"
    return f"{match.group(1).strip()} {match.group(2).strip()}"


def test_changes_made_by_another_session_show_on_the_next_page(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    html = page(client, "/account/")
    assert '<html lang="en"' in html and _whoami(html) == f"{member.login} primary"

    with transaction(factory) as s:  # another process: the member's language and their login
        s.execute(update(Account).where(Account.id == member.account_id).values(language="fr"))
    html = page(client, "/account/")
    assert '<html lang="fr"' in html and _whoami(html) == f"{member.login} principal"

    with transaction(factory) as s:
        s.execute(update(User).where(User.id == member.user_id).values(login=f"{member.login}9"))
    assert _whoami(page(client, "/")) == f"{member.login}9 principal"

    with transaction(factory) as s:  # suspended by the operator: the session ends
        s.execute(update(Account).where(Account.id == member.account_id).values(status="suspended"))
    response = client.get("/account/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_bumped_session_version_or_a_deleted_user_ends_the_session(client, app, make_member, factory):
    member = make_member()
    sign_in(client, member)
    page(client, "/")
    with transaction(factory) as s:
        s.execute(
            update(User).where(User.id == member.user_id).values(session_version=User.session_version + 1)
        )
    assert client.get("/").status_code == 302

    other = make_member()
    second = app.test_client()
    sign_in(second, other)
    page(second, "/")
    with transaction(factory) as s:
        s.execute(delete(User).where(User.id == other.user_id))
    assert second.get("/account/").status_code == 302


def test_a_write_through_the_kept_user_is_saved_and_a_rolled_back_one_leaves_nothing(
    client, app, make_member, factory
):
    member = make_member()
    token = sign_in_user(client, member.user_id)
    with app.app_context():
        with factory() as s:  # loaded and kept
            user, _touch, _ = sessions.load(s, token, member.user_id, _limits())
            assert user is not None and user.email == ""
        with factory() as s:  # a change rolled back: neither the database nor the next copy has it
            user, _touch, _ = sessions.load(s, token, member.user_id, _limits())
            assert user is not None
            user.email = "rolled@back.example"
            user.account.city = "Nowhere"
            s.flush()
            s.rollback()
        with factory() as s:
            user, _touch, _ = sessions.load(s, token, member.user_id, _limits())
            assert user is not None and user.email == "" and user.account.city == ""
            user.email = "saved@example.com"  # saved as on any loaded object
            user.account.city = "Springfield"
            s.commit()
        with factory() as s:
            row = s.get_one(User, member.user_id)
            assert (row.email, row.account.city) == ("saved@example.com", "Springfield")
        with factory() as s:
            user, _touch, _ = sessions.load(s, token, member.user_id, _limits())
            assert user is not None and (user.email, user.account.city) == (
                "saved@example.com",
                "Springfield",
            )
            # relationships not kept load in this Session
            assert user.virtual_number is None or user.virtual_number.account_id == member.account_id
            assert user in user.account.users
            assert member.number in {vn.number for vn in user.account.virtual_numbers}


def test_threads_each_get_their_own_copy(client, app, make_member, factory):
    member = make_member()
    token = sign_in_user(client, member.user_id)
    errors: list[BaseException] = []
    seen: list[int] = []

    def work() -> None:
        try:
            with app.app_context():
                for i in range(40):
                    with factory() as s:
                        user, _touch, _ = sessions.load(s, token, member.user_id, _limits())
                        assert user is not None and user.login == member.login
                        assert user.account.id == member.account_id
                        seen.append(id(user))
                        if i % 10 == 0:  # a change now and then: the others read it again
                            user.email = f"t{threading.get_ident()}-{i}@example.com"
                            s.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with factory() as s:
        email = s.get_one(User, member.user_id).email
    with app.app_context(), factory() as s:
        user, _touch, _ = sessions.load(s, token, member.user_id, _limits())
        assert user is not None and user.email == email


def _top(html: str) -> str:
    return html.split('<main id="main"', 1)[0]


def test_two_members_never_see_each_others_top(app, make_member, factory):
    a, b = make_member(), make_member()
    with transaction(factory) as s:
        s.add(Buddy(user_id=a.user_id, name="Alice's buddy", virtual_number="17005550101", pstn_phone=""))
        s.add(Buddy(user_id=b.user_id, name="Bob's buddy", virtual_number="17005550102", pstn_phone=""))
    ca, cb = app.test_client(), app.test_client()
    sign_in(ca, a)
    sign_in(cb, b)
    for _ in range(2):
        for client, me, mine, theirs in (
            (ca, a, "Alice&#39;s buddy", "Bob"),
            (cb, b, "Bob&#39;s buddy", "Alice"),
        ):
            html = page(client, "/account/")
            top = _top(html)
            assert _whoami(top) == f"{me.login} primary" and mine in top and theirs not in top
            [token] = CSRF_RE.findall(top)
            # the logout form's token is this session's: the logout works
            assert client.post("/logout", data={"csrf_token": unescape(token)}).status_code == 302
            sign_in(client, me)
    # logged out: no navigation, no whoami
    anonymous = app.test_client()
    html = anonymous.get("/login").get_data(as_text=True)
    assert "whoami" not in html and "sidenav" not in html and "layout-plain" in html


def test_the_sidebar_escapes_names_and_keeps_the_old_order_and_limit(client, make_member, factory):
    member = make_member()
    names = ["zeta", "Alpha", "alpha", '<b>bold</b> & "q"', "Émile", "beta", "Beta"] + [
        f"n{i:02d}" for i in range(10)
    ]
    with transaction(factory) as s:
        for i, name in enumerate(names):
            s.add(Buddy(user_id=member.user_id, name=name, virtual_number=f"1700555{i:04d}", pstn_phone=""))
        s.add(Buddy(user_id=member.user_id, name="alpha", virtual_number="", pstn_phone="+12125550100"))
    with factory() as s:
        expected = [tuple(r) for r in s.execute(nav._SIDEBAR_QUERY, {"user_id": member.user_id})]
    assert len(expected) == nav.SIDEBAR_BUDDIES
    sign_in(client, member)
    top = _top(page(client, "/"))
    sidebar = top.split('class="buddy-sidebar"', 1)[1].split("</ul>", 1)[0]
    shown = re.findall(r'buddies/(\d+)/edit" class="buddy-name">([^<]*)</a>', sidebar)
    assert [(int(i), unescape(n)) for i, n in shown] == [(r[0], r[1]) for r in expected]
    assert "<b>bold</b>" not in top and "&lt;b&gt;bold&lt;/b&gt; &amp; &#34;q&#34;" in top


def test_a_buddy_added_elsewhere_shows_on_the_next_page(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    assert "buddy-sidebar" not in _top(page(client, "/"))
    with transaction(factory) as s:
        s.add(Buddy(user_id=member.user_id, name="Late Buddy", virtual_number="17005550177", pstn_phone=""))
    assert "Late Buddy" in _top(page(client, "/"))
    with transaction(factory) as s:
        s.execute(update(Buddy).where(Buddy.user_id == member.user_id).values(name="Renamed Buddy"))
    top = _top(page(client, "/"))
    assert "Renamed Buddy" in top and "Late Buddy" not in top


def test_the_admin_is_kept_without_an_account(client, app, factory):
    with transaction(factory) as s:
        admin_id = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id
    sign_in_user(client, admin_id)
    for _ in range(2):
        html = page(client, "/admin/")
        assert "buddy-sidebar" not in html and "admin" in _whoami(html)
    with transaction(factory) as s:
        s.execute(update(User).where(User.id == admin_id).values(login=f"renamed-{admin_id}"))
    assert _whoami(page(client, "/admin/")).startswith(f"renamed-{admin_id}")


def test_numbers_with_version_is_number_scope(app, make_member, make_secondary, factory):
    member = make_member()
    second = make_secondary(member)
    make_secondary(member)
    with transaction(factory) as s:
        admin_id = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id
    with app.app_context(), factory() as s:
        for user_id in (member.user_id, second.user_id, admin_id):
            user = s.get_one(User, user_id)
            scoped = list(
                s.execute(
                    select(VirtualNumber.number)
                    .where(access.number_scope(user))
                    .order_by(VirtualNumber.number)
                ).scalars()
            )
            assert [r[0] for r in kept.numbers_with_version(s, user)] == scoped
        assert len(scoped) == 0
        assert [r[0] for r in kept.numbers_with_version(s, s.get_one(User, second.user_id))] == [
            second.number
        ]
        assert len(kept.numbers_with_version(s, s.get_one(User, member.user_id))) == 3


def test_threaded_server_answers_each_member_with_their_own_top(app, make_member, factory):
    """Werkzeug's threaded server (webpanel/__main__.py's default): two members' pages asked
    at the same time, while another session keeps changing one member's account, never show
    one member's login, buddies or CSRF token to the other."""
    import urllib.request

    from werkzeug.serving import make_server

    members = [make_member(), make_member()]
    with transaction(factory) as s:
        for m in members:
            s.add(
                Buddy(
                    user_id=m.user_id, name=f"buddy-of-{m.login}", virtual_number="17005550111", pstn_phone=""
                )
            )
    cookies = []
    for m in members:
        c = app.test_client()
        sign_in(c, m)
        cookies.append(c.get_cookie("voip_panel").value)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_port}/account/"
    errors: list[str] = []
    tokens: list[set[str]] = [set(), set()]

    def ask(i: int) -> None:
        me, other = members[i], members[1 - i]
        for _ in range(15):
            request = urllib.request.Request(url, headers={"Cookie": f"voip_panel={cookies[i]}"})
            try:
                html = urllib.request.urlopen(request, timeout=30).read().decode()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))
                return
            top = _top(html)
            if _whoami(top).split()[0] != me.login or f"buddy-of-{other.login}" in top:
                errors.append(f"member {i} got {_whoami(top)}")
            if f"buddy-of-{me.login}" not in top:
                errors.append(f"member {i} lacks their buddy")
            tokens[i].update(CSRF_RE.findall(top))

    def change() -> None:
        for n in range(15):
            with transaction(factory) as s:
                s.execute(update(Account).where(Account.id == members[0].account_id).values(city=f"c{n}"))

    threads = [threading.Thread(target=ask, args=(i % 2,)) for i in range(6)] + [
        threading.Thread(target=change)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors[:5]
    assert tokens[0] and tokens[1] and not tokens[0] & tokens[1]


def test_a_user_read_after_its_own_transactions_write_is_not_kept(client, app, make_member, factory):
    """Rows written by a transaction carry its id as their version (xmin) until it ends, through
    all its later writes: what load() reads after one of them must not be kept under it."""
    member = make_member()
    token = sign_in_user(client, member.user_id)
    with app.app_context():
        with factory() as s:
            s.execute(update(User).where(User.id == member.user_id).values(email="first@example.com"))
            user, _t, _ = sessions.load(s, token, member.user_id, _limits())
            assert user is not None and user.email == "first@example.com"
            s.execute(update(User).where(User.id == member.user_id).values(email="second@example.com"))
            s.commit()
        with factory() as s:
            user, _t, _ = sessions.load(s, token, member.user_id, _limits())
            assert user is not None and user.email == "second@example.com"


def test_a_role_change_elsewhere_changes_the_next_pages_navigation(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    top = _top(page(client, "/"))
    assert 'href="/invoices/"' in top and _whoami(top).endswith("primary")
    with transaction(factory) as s:  # the holder becomes a secondary user of their own number
        s.execute(
            update(User)
            .where(User.id == member.user_id)
            .values(role="secondary", virtual_number_id=member.virtual_number_id)
        )
    top = _top(page(client, "/"))
    assert 'href="/invoices/"' not in top and _whoami(top).endswith("secondary")


def test_the_logged_out_top_follows_the_browsers_language(app):
    for language, brand in (("es", "Panel de control VoIP"), ("en", "VoIP Control Panel"), ("fr", None)):
        html = app.test_client().get("/login", headers={"Accept-Language": language}).get_data(as_text=True)
        top = _top(html)
        assert f'<html lang="{language}"' in html and "whoami" not in top
        if brand:
            assert brand in top


def test_the_kept_top_is_each_apps_own(database, engine, factory, tmp_path):
    """Two apps in one process (the tests build one each) with different settings: one's kept
    top (its navigation with or without Demo Mail) is never the other's, even for one cookie."""
    import dataclasses

    from webpanel import create_app

    with transaction(factory) as s:
        admin_id = accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id
    apps = [
        create_app(
            {
                "TESTING": True,
                "VOIP_SETTINGS": dataclasses.replace(database, demo_mailbox=box),
                "VOIP_ENGINE": engine,
            }
        )
        for box in ("", str(tmp_path))
    ]
    without, with_mail = apps[0].test_client(), apps[1].test_client()
    sign_in_user(without, admin_id)
    assert 'href="/admin/mail/"' not in _top(page(without, "/admin/"))
    with_mail.set_cookie("voip_panel", without.get_cookie("voip_panel").value)
    assert 'href="/admin/mail/"' in _top(page(with_mail, "/admin/"))
