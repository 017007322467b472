"""Issue 16, "Forwarding as one form": steps 1-3, screening and office hours saved by one submit,
parts that do not apply kept and explained, the plain-language summary (from the rules code a
call runs), presets, the "what happens if I'm called now" simulator and Call Blocking."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from html import unescape

from sqlalchemy import select, text

from db.models import AuditLog, Buddy, CallBlock, ForwardingRule
from db.session import transaction
from tests.support.members import set_forwarding, set_options

from .conftest import csrf_token, errors_in, page, post_form, sign_in
from .test_forwarding import FORM
from .test_restapi import FORWARDING, admin_id, api, world  # noqa: F401 (fixtures)

CELL = "+13125550177"  # the account's PSTN phone ("your cell")


def _rule(factory, member) -> ForwardingRule:
    with factory() as s:
        return s.get_one(ForwardingRule, member.vn_id)


def _save(client, member, **fields):
    return post_form(client, f"/forwarding/{member.number}", {**FORM, **fields})


def _text(html: str) -> str:
    """The page's words, tags dropped, spaces folded."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _summary(html: str) -> str:
    block = re.search(r'<div id="fwd-summary" aria-live="polite">(.*?)</section>', html, re.S)
    assert block, "no summary on the page"
    return _text(block.group(1))


def _tag(html: str, element_id: str) -> str:
    found = re.search(rf'<(?:input|textarea|fieldset)[^>]*\bid="{element_id}"[^>]*>', html)
    assert found, f"no #{element_id}"
    return found.group(0)


def _checked(html: str, element_id: str) -> bool:
    return " checked" in _tag(html, element_id)


def _audits(factory, member, action: str) -> list[AuditLog]:
    with factory() as s:
        return list(
            s.scalars(
                select(AuditLog)
                .where(AuditLog.account_id == member.account_id, AuditLog.action == action)
                .order_by(AuditLog.id)
            )
        )


def test_one_submit_saves_step1_step2_screening_and_hours_together(client, make_member, factory):
    """The bug of the two forms: a step 2 submit dropped step 1's change. One form, one submit."""
    member = make_member(time_zone="America/Chicago")
    sign_in(client, member)
    response = _save(
        client,
        member,
        step1="none",
        device_seconds="12",
        no_answer_enabled="y",
        no_answer_numbers="1-800-555-1212",
        no_answer_seconds="30",
        busy_enabled="y",
        busy_numbers="18665550000",
        dnd="y",
        reject_anonymous="y",
        confirm_forwarded="y",
        hours_enabled="y",
        hours_days=["0", "2", "4"],
        hours_open="22:00",
        hours_close="06:00",
        after_hours_step1="none",
    )
    assert response.status_code == 302, errors_in(response)
    rule = _rule(factory, member)
    assert (rule.step1, rule.device_seconds) == ("none", 12)
    assert (rule.no_answer_enabled, rule.no_answer_numbers, rule.no_answer_seconds) == (
        True,
        ["18005551212"],
        30,
    )
    assert (rule.busy_enabled, rule.busy_numbers) == (True, ["18665550000"])
    assert (rule.dnd, rule.reject_anonymous, rule.confirm_forwarded) == (True, True, True)
    assert (rule.hours_enabled, rule.hours_days) == (True, 1 | 4 | 16)
    assert (rule.hours_open, rule.hours_close, rule.after_hours_step1) == (
        dt.time(22, 0),
        dt.time(6, 0),
        "none",
    )
    html = page(client, f"/forwarding/?number={member.number}")
    assert f"Forwarding of {member.number} was saved." in html
    # the page shows what is stored: one form, checked as saved
    assert _checked(html, "dnd")
    assert _checked(html, "hours_days-2")
    assert 'value="22:00"' in html and "America/Chicago" in html


def test_a_part_that_does_not_apply_is_kept_greyed_and_explained(client, make_member, factory):
    member = make_member()
    set_forwarding(
        factory,
        member,
        no_answer_enabled=True,
        no_answer_numbers=["18005551212"],
        after_hours_numbers=["18665550000"],
    )
    sign_in(client, member)
    # step 1 voicemail: step 2 does not apply; what it holds (even nonsense) is neither checked
    # nor stored, the stored lists stay as they were
    response = _save(
        client,
        member,
        step1="voicemail",
        no_answer_enabled="y",
        no_answer_numbers="911",
        device_seconds="abc",
        after_hours_step1="ring_list",
        after_hours_numbers="",
    )
    assert response.status_code == 302, errors_in(response)
    rule = _rule(factory, member)
    assert rule.step1 == "voicemail"
    assert (rule.no_answer_enabled, rule.no_answer_numbers, rule.device_seconds) == (
        True,
        ["18005551212"],
        20,
    )
    assert (rule.hours_enabled, rule.after_hours_step1, rule.after_hours_numbers) == (
        False,
        "voicemail",
        ["18665550000"],
    )
    html = page(client, f"/forwarding/?number={member.number}")
    assert re.search(r'id="step2" aria-disabled="true" aria-describedby="step2-why"', html)
    assert 'Step 2 applies only with "No special forwarding" in step 1 (or after hours).' in unescape(html)
    assert re.search(r'id="hours" aria-disabled="true" aria-describedby="hours-why"', html)
    assert re.search(r'id="step1-list" aria-disabled="true"', html)
    # "no special forwarding" after hours makes step 2 apply again
    set_forwarding(factory, member, hours_enabled=True, after_hours_step1="none")
    html = page(client, f"/forwarding/?number={member.number}")
    assert re.search(r'id="step2" aria-describedby="step2-why" data-off="false"', html)


def test_every_problem_is_shown_at_once_next_to_its_field_and_nothing_changes(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    response = _save(
        client,
        member,
        step1="ring_list",
        step1_numbers="18005551212\n911",
        step1_seconds="0",
        hours_enabled="y",
        hours_open="",
        hours_close="25:00",
        after_hours_step1="ring_list",
        after_hours_numbers="",
        dnd="y",
    )
    assert response.status_code == 400
    messages = errors_in(response)
    for expected in (
        "Enter a number of seconds from 1 to 99.",
        "Choose at least one day of office hours.",
        "Enter the time your office hours start, such as 09:00.",
        "Enter the time your office hours end, such as 17:00.",
        "Enter at least one phone number (one per line).",
    ):
        assert expected in messages, (expected, messages)
    assert any("Line 2 (911): 911 cannot be a forwarding number" in m for m in messages)
    html = response.get_data(as_text=True)
    # the field points at its error (aria-describedby) and is marked invalid
    assert re.search(
        r'aria-describedby="hours_open-error hours-zone" aria-invalid="true"', html
    ) or re.search(r'aria-describedby="hours_open-error hours-zone"[^>]*aria-invalid="true"', html), html[
        html.find('id="hours_open"') - 200 : html.find('id="hours_open"') + 200
    ]
    assert 'id="hours_open-error"' in html
    rule = _rule(factory, member)
    assert (rule.step1, rule.dnd, rule.hours_enabled) == ("none", False, False)


def test_the_summary_says_in_words_what_a_call_does_naming_buddies_and_the_cell(client, make_member, factory):
    member = make_member(pstn_phone=CELL)
    with transaction(factory) as s:
        s.add(Buddy(user_id=member.user_id, name="Bob", pstn_phone="(312) 555-0188"))
    set_forwarding(
        factory,
        member,
        step1="none",
        device_seconds=20,
        no_answer_enabled=True,
        no_answer_numbers=["13125550188", "13125550177"],
        no_answer_seconds=30,
    )
    sign_in(client, member)
    summary = _summary(page(client, f"/forwarding/?number={member.number}"))
    assert (
        "If nobody answers: Ring your phone 20 s, then ring Bob and your cell together for 30 s, then voicemail."
        in summary
    )
    assert "If you are busy: Ring your phone 20 s, then voicemail." in summary
    # busy the same as no answer: one sentence; find-me confirmation is said
    set_forwarding(
        factory,
        member,
        busy_enabled=True,
        busy_numbers=["13125550188", "13125550177"],
        busy_seconds=30,
        confirm_forwarded=True,
        reject_anonymous=True,
    )
    summary = _summary(page(client, f"/forwarding/?number={member.number}"))
    assert (
        "Ring your phone 20 s, then ring Bob and your cell together for 30 s (they press 1 to take the call), "
        "then voicemail." in summary
    ) or "Bob and your cell together for 30 s (they press 1 to take the call)" in summary, summary
    assert "If nobody answers" not in summary
    assert "Callers without a caller ID are refused." in summary


def test_the_summary_fragment_follows_the_unsaved_form(client, make_member, factory):
    member = make_member(time_zone="Europe/Paris")
    sign_in(client, member)
    response = post_form(
        client,
        f"/forwarding/{member.number}/summary",
        {
            **FORM,
            "step1": "ring_list",
            "step1_numbers": "18005551212\n18665550000",
            "step1_mode": "sequential",
            "step1_seconds": "15",
            "hours_enabled": "y",
            "hours_days": ["0", "1", "2", "3", "4"],
            "after_hours_step1": "voicemail",
        },
    )
    assert response.status_code == 200
    text = _text(response.get_data(as_text=True))
    assert "press Save to keep it" in text
    assert "During office hours (Mon, Tue, Wed, Thu, Fri, 09:00 to 17:00, Europe/Paris):" in text
    assert "Ring 18005551212 and 18665550000 one after another, 15 s each, then voicemail." in text
    assert "After hours: Voicemail." in text
    assert _rule(factory, member).step1 == "none"  # nothing saved
    # DND on: said first
    response = post_form(
        client, f"/forwarding/{member.number}/summary", {**FORM, "dnd": "y", "no_special": "y"}
    )
    assert "Do not disturb is on: nothing rings. Voicemail." in _text(response.get_data(as_text=True))


def test_presets_fill_the_form_without_saving(client, make_member, factory):
    member = make_member(pstn_phone=CELL)
    set_options(factory, member, allow_us_canada_ld=True)  # the cell is on the PSTN
    sign_in(client, member)
    response = _save(client, member, step1="voicemail", preset="road")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Preset filled in below: check it and press Save to use it." in html
    # on the road: the phone AND the cell together (the "Bob and your cell together")
    assert _checked(html, "step1-1")
    assert re.search(
        rf'<textarea[^>]*name="step1_numbers"[^>]*>\s*{member.number}\n13125550177</textarea>', html
    )
    assert re.search(r'<select[^>]*name="step1_mode".*?<option selected value="simultaneous"', html, re.S)
    assert re.search(r'name="step1_seconds"[^>]*value="25"', html)
    assert "Ring your phone and your cell together for 25 s, then voicemail." in _summary(html)
    assert _rule(factory, member).step1 == "none"  # nothing saved yet
    # saving what the preset filled in
    saved = _save(
        client,
        member,
        step1="ring_list",
        step1_mode="simultaneous",
        step1_seconds="25",
        step1_numbers=f"{member.number}\n13125550177",
    )
    assert saved.status_code == 302, errors_in(saved)
    rule = _rule(factory, member)
    assert (rule.step1, rule.step1_mode, rule.step1_numbers) == (
        "ring_list",
        "simultaneous",
        [member.number, "13125550177"],
    )
    assert "Ring your phone and your cell together for 25 s, then voicemail." in _summary(
        page(client, f"/forwarding/?number={member.number}")
    )
    # vacation: do not disturb
    html = _save(client, member, preset="vacation").get_data(as_text=True)
    assert _checked(html, "dnd")
    # at the office: ring the phone 20 s, step 2 off
    html = _save(client, member, preset="office", no_answer_enabled="y").get_data(as_text=True)
    assert re.search(r'name="device_seconds"[^>]*value="20"', html)
    assert _checked(html, "no_special")
    assert not _checked(html, "no_answer_enabled")


def test_on_the_road_without_a_cell_number_asks_for_it(client, make_member):
    member = make_member(pstn_phone="")
    sign_in(client, member)
    response = _save(client, member, preset="road")
    assert response.status_code == 200
    assert "Enter your cell number here (or add it as your phone on Account Information)." in errors_in(
        response
    )
    assert _save(client, member, preset="nonsense").status_code == 400


def test_every_change_is_audited_with_its_actor_and_address(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    address = client.environ_base["REMOTE_ADDR"]
    assert _save(client, member, step1="voicemail", dnd="y").status_code == 302
    (entry,) = _audits(factory, member, "forwarding.update")
    assert (entry.actor_user_id, entry.remote_addr) == (member.user_id, address)
    assert entry.details["changed"] == ["dnd", "step1"]
    assert (
        post_form(client, f"/forwarding/{member.number}/blocked", {"number": "312 555 0101"}).status_code
        == 302
    )
    (added,) = _audits(factory, member, "forwarding.block_add")
    assert (added.actor_user_id, added.remote_addr, added.details["number"]) == (
        member.user_id,
        address,
        "3125550101",
    )


def test_call_blocking_add_normalize_duplicate_digits_and_remove(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    html = page(client, f"/forwarding/blocked?number={member.number}")
    assert "Call Blocking" in html and "No number is blocked." in html
    ok = post_form(
        client, f"/forwarding/{member.number}/blocked", {"number": "+1 (312) 555-0199", "note": "robocaller"}
    )
    assert ok.status_code == 302, errors_in(ok)
    dup = post_form(client, f"/forwarding/{member.number}/blocked", {"number": "13125550199"})
    assert dup.status_code == 400
    assert "3125550199 is already blocked." in errors_in(dup)
    assert 'aria-describedby="number-error number-help"' in dup.get_data(as_text=True)
    for bad in ("abc", "1", ""):
        refused = post_form(client, f"/forwarding/{member.number}/blocked", {"number": bad})
        assert refused.status_code == 400, bad
        assert errors_in(refused), bad
    with factory() as s:
        rows = s.execute(
            select(CallBlock.id, CallBlock.number, CallBlock.note)
            .where(CallBlock.virtual_number_id == member.vn_id)
            .order_by(CallBlock.id)
        ).all()
    assert [(r.number, r.note) for r in rows] == [("3125550199", "robocaller")]
    listing = page(client, f"/forwarding/blocked?number={member.number}")
    assert "3125550199" in listing and "robocaller" in listing
    assert "Blocked numbers (1) are refused." in _summary(
        page(client, f"/forwarding/?number={member.number}")
    )
    gone = post_form(client, f"/forwarding/{member.number}/blocked/{rows[0].id}/remove", {})
    assert gone.status_code == 302
    with factory() as s:
        assert s.scalar(select(CallBlock.id).where(CallBlock.virtual_number_id == member.vn_id)) is None
    (removed,) = _audits(factory, member, "forwarding.block_remove")
    assert removed.details["number"] == "3125550199"


def test_two_requests_blocking_the_same_number_at_once_the_loser_is_told_it_is_already_blocked(
    client, make_member, factory
):
    """Both requests pass the "already blocked?" read before either commits: the second one's
    INSERT waits on the first one's uncommitted row (the unique index), then fails when it
    commits. That is a form message and nothing stored, not a 500."""
    member = make_member()
    sign_in(client, member)
    token = csrf_token(client, f"/forwarding/blocked?number={member.number}")
    first = factory()  # the other request, between its INSERT and its COMMIT
    first.add(CallBlock(virtual_number_id=member.vn_id, number="3125550177", note="first"))
    first.flush()
    xid = first.scalar(text("SELECT pg_current_xact_id()::text"))
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            outcome["response"] = client.post(
                f"/forwarding/{member.number}/blocked",
                data={"csrf_token": token, "number": "+1 312-555-0177", "note": "second"},
            )
        except BaseException as exc:  # what a test client re-raises instead of a 500
            outcome["error"] = exc

    racer = threading.Thread(target=second)
    racer.start()
    try:
        deadline = time.monotonic() + 30
        with factory() as watch:  # the second request's INSERT waits on the first's transaction
            while not watch.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted"
                    " AND transactionid::text = :xid"
                ),
                {"xid": xid},
            ):
                watch.rollback()
                assert racer.is_alive() and time.monotonic() < deadline, outcome
                time.sleep(0.02)
        first.commit()
    finally:
        first.close()
        racer.join(30)
    assert "error" not in outcome, outcome.get("error")
    response = outcome["response"]
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "3125550177 is already blocked." in errors_in(response)
    with factory() as s:
        rows = s.execute(
            select(CallBlock.number, CallBlock.note).where(CallBlock.virtual_number_id == member.vn_id)
        ).all()
    assert [tuple(r) for r in rows] == [("3125550177", "first")]
    assert _audits(factory, member, "forwarding.block_add") == []


def test_the_blocklist_holds_at_most_200_numbers(client, make_member, factory):
    member = make_member()
    with transaction(factory) as s:
        s.add_all(CallBlock(virtual_number_id=member.vn_id, number=f"31255{i:05d}") for i in range(200))
    sign_in(client, member)
    response = post_form(client, f"/forwarding/{member.number}/blocked", {"number": "4155550100"})
    assert response.status_code == 400
    assert "You can block at most 200 numbers; remove one first." in errors_in(response)


def test_the_simulator_answers_in_words_with_the_accounts_local_time(client, make_member, factory):
    member = make_member(time_zone="America/Chicago")
    set_forwarding(
        factory,
        member,
        hours_enabled=True,
        hours_days=31,
        hours_open=dt.time(9),
        hours_close=dt.time(17),
        after_hours_step1="voicemail",
        step1="none",
        device_seconds=25,
    )
    with transaction(factory) as s:
        s.add(CallBlock(virtual_number_id=member.vn_id, number="3125550166"))
    sign_in(client, member)
    base = f"/forwarding/?number={member.number}&simulate=1"

    def answer(query: str) -> str:
        html = page(client, base + query)
        block = re.search(
            r'<div class="fwd-sim-answer[^"]*" id="sim-answer" role="status">(.*?)</div>', html, re.S
        )
        assert block, html[-3000:]
        return _text(block.group(1))

    saturday = answer("&caller=&day=5&time=10:00")
    assert "Saturday 10:00 in America/Chicago" in saturday
    assert "Outside your office hours" in saturday and "Voicemail." in saturday
    monday = answer("&caller=2125550100&day=0&time=10:30")
    assert "Monday 10:30 in America/Chicago" in monday
    assert "Within your office hours." in monday and "Ring your phone 25 s, then voicemail." in monday
    blocked = answer("&caller=%2B1+312+555+0166&day=0&time=10:30")
    assert "Refused: +1 312 555 0166 is on your blocklist. Nothing rings." in blocked
    assert "Ring" not in blocked
    set_forwarding(factory, member, reject_anonymous=True, dnd=True)
    assert "no caller ID" in answer("&caller=anonymous")
    assert "Do not disturb is on: nothing rings." in answer("&caller=2125550100")


def test_another_members_number_is_refused_everywhere(client, make_member, make_secondary, factory):
    member, other = make_member(), make_member()
    second = make_secondary(member)
    with transaction(factory) as s:
        block = CallBlock(virtual_number_id=other.vn_id, number="3125550155")
        s.add(block)
        s.flush()
        block_id = block.id
    sign_in(client, member)
    assert _save(client, other, step1="voicemail").status_code == 404
    assert post_form(client, f"/forwarding/{other.number}/summary", FORM).status_code == 404
    assert client.get(f"/forwarding/blocked?number={other.number}").status_code == 404
    assert (
        post_form(client, f"/forwarding/{other.number}/blocked", {"number": "3125550100"}).status_code == 404
    )
    assert post_form(client, f"/forwarding/{other.number}/blocked/{block_id}/remove", {}).status_code == 404
    # another number's block through one's own number's URL: not found either
    assert post_form(client, f"/forwarding/{member.number}/blocked/{block_id}/remove", {}).status_code == 404
    assert client.get(f"/forwarding/?number={other.number}&simulate=1").status_code == 404
    assert _rule(factory, other).step1 == "none"
    with factory() as s:
        assert s.scalar(select(CallBlock.id).where(CallBlock.id == block_id)) == block_id
    # a secondary user: only their own number
    sign_in(client, second)
    assert "Call Blocking" in page(client, "/forwarding/blocked")
    assert client.get(f"/forwarding/blocked?number={member.number}").status_code == 404
    assert _save(client, member, step1="voicemail").status_code == 404
    assert _save(client, second, step1="voicemail").status_code == 302


def test_the_page_and_its_summary_in_spanish_and_french(client, make_member, factory):
    for language, heading, walk, blocking in (
        (
            "es",
            "Qué pasa con sus llamadas",
            "Sonar su teléfono 20 s, luego buzón de voz.",
            "Bloqueo de llamadas",
        ),
        (
            "fr",
            "Ce que deviennent vos appels",
            "Faire sonner votre téléphone 20 s, puis messagerie vocale.",
            "Blocage d",
        ),
    ):
        member = make_member(language=language)
        sign_in(client, member)
        html = page(client, f"/forwarding/?number={member.number}&simulate=1")
        assert heading in unescape(html)
        assert walk in _summary(html)
        assert blocking in unescape(page(client, f"/forwarding/blocked?number={member.number}"))


def test_the_cached_form_html_follows_every_stored_change_and_the_language(client, make_member, factory):
    """The GET's form fields are rendered once per language and stored values (views._form_html):
    a change made elsewhere (another tab, the REST API, voipctl) shows on the next GET, and the
    CSRF token stays the session's own."""
    member = make_member()
    sign_in(client, member)
    url = f"/forwarding/?number={member.number}"
    first = page(client, url)
    assert re.search(r'name="device_seconds"[^>]*value="20"', first)
    set_forwarding(factory, member, device_seconds=33, dnd=True)
    second = page(client, url)
    assert re.search(r'name="device_seconds"[^>]*value="33"', second)
    assert _checked(second, "dnd")
    fwd_form = second.split('id="fwd-form"', 1)[1].split("</form>", 1)[0]
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', second))
    assert len(tokens) == 1 and 'name="csrf_token"' in fwd_form  # the sign-out form's, the session's
    with transaction(factory) as s:
        from db.models import Account

        s.get_one(Account, member.account_id).language = "es"
    spanish = page(client, url)
    assert re.search(r'name="device_seconds"[^>]*value="33"', spanish)
    assert "Guardar" in _text(spanish.split('id="fwd-form"', 1)[1].split("</form>", 1)[0])


def test_the_rest_apis_forwarding_put_keeps_screening_hours_and_blocks(api, factory, world):
    """PUT /api/v1/me/numbers/<n>/forwarding (steps 1 and 2 only, through the same checker as
    the page) leaves do not disturb, anonymous rejection, confirmation, office hours, the
    after-hours plan and the blocklist as they are."""
    a, _, _, toks = world
    screening = dict(
        dnd=True,
        reject_anonymous=True,
        confirm_forwarded=True,
        hours_enabled=True,
        hours_days=0b0011111,
        hours_open=dt.time(9),
        hours_close=dt.time(17),
        after_hours_step1="ring_list",
        after_hours_numbers=["13125550142"],
    )
    set_forwarding(factory, a, **screening)
    with transaction(factory) as s:
        s.add(CallBlock(virtual_number_id=a.vn_id, number="3125550199"))
    body = {**FORWARDING, "step1": {**FORWARDING["step1"], "action": "ring_list"}}
    body["step1"]["ring"] = {"mode": "simultaneous", "seconds": 20, "numbers": [a.number, "14155550177"]}
    r = api.put(f"/api/v1/me/numbers/{a.number}/forwarding", json=body, headers=toks["member"].headers)
    assert (
        r.status_code == 400
    )  # the cell is long distance (415: never regional to 700 in any test), off for this number
    assert "14155550177" in r.get_json()["message"]
    body["step1"]["ring"]["numbers"] = [a.number]  # the number itself: its phones (as the page)
    r = api.put(f"/api/v1/me/numbers/{a.number}/forwarding", json=body, headers=toks["member"].headers)
    assert r.status_code == 200, r.get_json()
    rule = _rule(factory, a)
    assert (rule.step1, rule.step1_numbers) == ("ring_list", [a.number])
    assert {k: getattr(rule, k) for k in screening} == screening
    with factory() as s:
        assert s.scalars(select(CallBlock.number).where(CallBlock.virtual_number_id == a.vn_id)).all() == [
            "3125550199"
        ]


def test_the_rest_apis_forwarding_shows_screening_hours_and_blocks_and_sets_them_as_the_page(
    api, factory, world
):
    """GET /api/v1/me/numbers/<n>/forwarding gives issue 16's parts too: screening, office hours
    with the after-hours plan, and the blocklist (read only: Call Blocking changes it). A PUT
    that names screening or office hours sets them through the page's checker: its messages,
    and nothing stored (steps 1 and 2 of the same PUT neither) unless everything is right.
    A GET's answer can be PUT back as it is."""
    a, _, _, toks = world
    h = toks["member"].headers
    url = f"/api/v1/me/numbers/{a.number}/forwarding"
    set_forwarding(
        factory,
        a,
        dnd=True,
        reject_anonymous=True,
        hours_enabled=True,
        hours_days=0b0011111,
        hours_open=dt.time(9),
        hours_close=dt.time(17, 30),
        after_hours_step1="ring_list",
        after_hours_mode="sequential",
        after_hours_seconds=25,
        after_hours_numbers=["13125550142"],
    )
    with transaction(factory) as s:
        s.add(CallBlock(virtual_number_id=a.vn_id, number="3125550199", note="robocaller"))
    got = api.get(url, headers=h).get_json()
    assert got["screening"] == {"dnd": True, "reject_anonymous": True, "confirm_forwarded": False}
    assert got["office_hours"] == {
        "enabled": True,
        "days": [0, 1, 2, 3, 4],
        "open": "09:00",
        "close": "17:30",
        "after_hours": {
            "action": "ring_list",
            "ring": {"mode": "sequential", "seconds": 25, "numbers": ["13125550142"]},
        },
    }
    (block,) = got["call_blocks"]
    assert (block["number"], block["note"]) == ("3125550199", "robocaller")
    assert set(block) == {"id", "number", "note", "created_at"}
    stored = _rule(factory, a)
    columns = [c.key for c in ForwardingRule.__table__.columns]

    def refused(change: dict, field: str, message: str) -> None:
        body = {**got, **change, "step1": {**got["step1"], "action": "none"}}
        r = api.put(url, json=body, headers=h)
        assert r.status_code == 400, r.get_json()
        assert (r.get_json()["field"], r.get_json()["message"]) == (field, message)
        after = _rule(factory, a)
        assert [getattr(after, c) for c in columns] == [getattr(stored, c) for c in columns]

    hours = got["office_hours"]
    refused(
        {"office_hours": {**hours, "days": []}},
        "office_hours.days",
        "Choose at least one day of office hours.",
    )
    refused(
        {"office_hours": {**hours, "days": [0, 7]}},
        "office_hours.days",
        "Choose at least one day of office hours.",
    )
    refused(
        {"office_hours": {**hours, "close": "09:00"}},
        "office_hours.close",
        "Office hours must end at another time than they start.",
    )
    refused(
        {"office_hours": {**hours, "open": None}},
        "office_hours.open",
        "Enter the time your office hours start, such as 09:00.",
    )
    ring = {"mode": "simultaneous", "seconds": 20, "numbers": ["911"]}
    refused(
        {"office_hours": {**hours, "after_hours": {"action": "ring_list", "ring": ring}}},
        "office_hours.after_hours.ring.numbers",
        "Line 1 (911): 911 cannot be a forwarding number; emergency calls are never forwarded.",
    )
    ring = {**ring, "numbers": []}
    refused(
        {"office_hours": {**hours, "after_hours": {"action": "ring_list", "ring": ring}}},
        "office_hours.after_hours.ring.numbers",
        "Enter at least one phone number (one per line).",
    )
    r = api.put(url, json={**got, "office_hours": {**hours, "open": "9 am"}}, headers=h)
    assert r.status_code == 400 and r.get_json()["field"].startswith("office_hours")

    # the GET's answer, changed, PUT back as it is (number and call_blocks are read only)
    body = {
        **got,
        "screening": {"dnd": False, "reject_anonymous": True, "confirm_forwarded": True},
        "office_hours": {
            "enabled": True,
            "days": [5, 6],
            "open": "22:00",
            "close": "06:00",
            "after_hours": {
                "action": "ring_list",
                "ring": {"mode": "simultaneous", "seconds": 30, "numbers": [a.number]},
            },
        },
        "call_blocks": [],
    }
    r = api.put(url, json=body, headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {**body, "call_blocks": got["call_blocks"]}
    rule = _rule(factory, a)
    assert (rule.dnd, rule.reject_anonymous, rule.confirm_forwarded) == (False, True, True)
    assert (rule.hours_enabled, rule.hours_days, rule.hours_open, rule.hours_close) == (
        True,
        0b1100000,
        dt.time(22),
        dt.time(6),
    )
    assert (rule.after_hours_step1, rule.after_hours_seconds, rule.after_hours_numbers) == (
        "ring_list",
        30,
        [a.number],
    )
    with factory() as s:  # the blocklist is Call Blocking's
        assert s.scalars(select(CallBlock.number).where(CallBlock.virtual_number_id == a.vn_id)).all() == [
            "3125550199"
        ]
    (entry,) = _audits(factory, a, "forwarding.screening")
    assert entry.details["changed"] == [
        "after_hours_mode",
        "after_hours_numbers",
        "after_hours_seconds",
        "confirm_forwarded",
        "dnd",
        "hours_close",
        "hours_days",
        "hours_open",
    ]
    # office hours off: the rest of them is kept (not checked), as the page keeps a greyed part
    off = {
        "enabled": False,
        "days": [],
        "open": None,
        "close": None,
        "after_hours": body["office_hours"]["after_hours"],
    }
    r = api.put(url, json={**body, "office_hours": off}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["office_hours"] == {**body["office_hours"], "enabled": False}
    # without screening and office hours, a PUT leaves them as they are
    r = api.put(url, json={"step1": body["step1"], "step2": body["step2"]}, headers=h)
    assert r.status_code == 200
    assert r.get_json()["screening"] == body["screening"]


def test_a_buddys_name_and_a_block_note_are_text_not_html(client, make_member, factory):
    evil = '<img src=x onerror="alert(1)">'
    member = make_member()
    set_options(factory, member, allow_us_canada_ld=True)
    other = make_member()
    with transaction(factory) as s:
        s.add(Buddy(user_id=member.user_id, name=evil, virtual_number=other.number))
        s.add(CallBlock(virtual_number_id=member.vn_id, number="3125550111", note=evil))
    set_forwarding(factory, member, step1="ring_list", step1_numbers=[other.number])
    sign_in(client, member)
    html = page(client, f"/forwarding/?number={member.number}")
    assert evil not in html and "&lt;img src=x" in html
    response = post_form(
        client,
        f"/forwarding/{member.number}/summary",
        {**FORM, "step1": "ring_list", "step1_numbers": other.number},
    )
    assert evil not in response.get_data(as_text=True)
    blocked = page(client, f"/forwarding/blocked?number={member.number}")
    assert evil not in blocked and "&lt;img src=x" in blocked
    sim = page(client, f"/forwarding/?number={member.number}&simulate=1&caller={evil[:40]}")
    assert evil[:20] not in sim


def test_the_own_numbers_page_reads_its_rule_blocks_and_buddies_with_the_numbers(
    client, make_member, factory
):
    """/forwarding/ (the own number, no ?number=) brings the rule, the blocklist and the buddies
    in its first query (issue 16): the same page as asking for the number by name."""
    member = make_member(pstn_phone=CELL)
    with transaction(factory) as s:
        s.add(Buddy(user_id=member.user_id, name="Bob", pstn_phone="(312) 555-0188"))
        s.add(Buddy(user_id=member.user_id, name="Dee", virtual_number="13125550166"))
        s.add(CallBlock(virtual_number_id=member.vn_id, number="3125550111", note=""))
        s.add(CallBlock(virtual_number_id=member.vn_id, number="3125550112", note=""))
    set_forwarding(
        factory,
        member,
        step1="ring_list",
        step1_numbers=["13125550188", "13125550166", "13125550177"],
        step1_seconds=25,
    )
    sign_in(client, member)
    own = _summary(page(client, "/forwarding/"))
    assert own == _summary(page(client, f"/forwarding/?number={member.number}"))
    assert "Blocked numbers (2) are refused." in own and "Ring Bob, Dee and your cell together" in own
