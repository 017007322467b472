"""Issue 16, the notification emails in the account's language (accounts.language: en, es, fr),
over real SMTP (aiosmtpd) from real PostgreSQL, one notifications round at a time: the texts
from the panel's catalogs (controller/services/mail_i18n.py), money, numbers and dates written
for the language, the time's zone named. An English account's emails stay English."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import text, update

from controller.services import notifications
from db.models import Account, CreditLot, VoicemailMessage
from db.session import transaction
from tests.web.cdrs import add_cdrs, cdr_values

from .helpers import email_of, later, member, round_at, switch, to

UTC = dt.UTC


def missed_cdr(number: str, start: dt.datetime) -> dict:
    return cdr_values(
        vnum=number,
        start=start,
        dst=number,
        disposition="NO ANSWER",
        src="13125550100",
        clid='"Alice Smith" <13125550100>',
    )


def body_of(mail) -> str:
    return mail.message.get_body(("plain",)).get_content()


def test_missed_call_email_in_spanish_for_a_spanish_account_and_english_for_an_english_one(
    factory, settings, smtp_server
):
    round_at(factory, settings, later())  # the missed-call cursor exists
    es = member(factory, settings, time_zone="America/Chicago", language="es")
    en = member(factory, settings, time_zone="America/Chicago", language="en")
    switch(factory, es, missed_call=True)
    switch(factory, en, missed_call=True)
    start = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    add_cdrs(factory, [missed_cdr(es.number, start), missed_cdr(en.number, start)])
    round_at(factory, settings, later())

    [mail] = to(smtp_server, email_of(factory, es))
    assert mail.message["Subject"] == f"Llamada perdida en {es.number} de Alice Smith <13125550100>"
    body = body_of(mail)
    local = start.astimezone(notifications.zone("America/Chicago"))
    # es: day/month/year, 24-hour time, the zone named
    when = f"{local.day}/{local.month}/{local.year}, {local.hour}:{local:%M:%S} CST (America/Chicago)"
    assert f"Cuándo: {when}" in body, body
    assert f"Tiene una llamada perdida en {es.number}." in body
    assert f"Número llamado: {es.number}" in body and "De: Alice Smith <13125550100>" in body
    assert "You missed" not in body and "From:" not in body

    [mail] = to(smtp_server, email_of(factory, en))
    assert mail.message["Subject"] == f"Missed call on {en.number} from Alice Smith <13125550100>"
    assert f"When: {local:%Y-%m-%d %H:%M:%S} CST (America/Chicago)" in body_of(mail)


def test_low_balance_email_in_spanish_with_the_amounts_written_the_spanish_way(
    factory, settings, smtp_server
):
    es = member(factory, settings, credit=("20.00",), language="es")
    en = member(factory, settings, credit=("20.00",), language="en")
    with transaction(factory) as s:
        for who in (es, en):
            s.get_one(Account, who.account_id).low_balance_threshold = Decimal("5.00")
        s.execute(
            update(CreditLot)
            .where(CreditLot.account_id.in_((es.account_id, en.account_id)))
            .values(remaining=Decimal("3.00"))
        )
    switch(factory, es, low_balance=True)
    switch(factory, en, low_balance=True)
    round_at(factory, settings)

    [mail] = to(smtp_server, email_of(factory, es))
    assert mail.message["Subject"] == f"{settings.operator_name}: su saldo es bajo (3,00\xa0US$)"
    body = body_of(mail)
    assert "Su saldo de crédito de llamadas es 3,00\xa0US$, por debajo de los 5,00\xa0US$" in body
    assert f"Recargue en su panel de control: {settings.panel_base_url}/recharge/" in body

    [mail] = to(smtp_server, email_of(factory, en))
    assert mail.message["Subject"] == f"{settings.operator_name}: your balance is low ($3.00)"
    assert "under the $5.00 you chose" in body_of(mail)


def test_weekly_summary_in_spanish_with_spanish_dates_numbers_and_money(factory, settings, smtp_server):
    es = member(factory, settings, time_zone="Europe/Madrid", language="es")
    switch(factory, es, weekly_summary=True)
    madrid = notifications.zone("Europe/Madrid")
    in_week = dt.datetime(2026, 3, 4, 12, 0, tzinfo=madrid)  # ISO week 2026-W10
    rows = [
        cdr_values(
            vnum=es.number,
            start=in_week,
            src=es.number,
            dst="13125550111",
            dialed="13125550111",
            call_class="D",
            billsec=125,
            dstchannel="PJSIP/carrier-1",
        ),
        missed_cdr(es.number, in_week + dt.timedelta(hours=1)),
    ]
    add_cdrs(factory, rows, charges={0: {"cost": Decimal("1234.50"), "account_id": es.account_id}})
    with transaction(factory) as s:
        s.add(
            VoicemailMessage(
                virtual_number_id=es.virtual_number_id, audio=b"RIFF", received_at=in_week, emailed_at=in_week
            )
        )
        s.execute(
            text(
                "UPDATE cdr_charges SET rated_at = c.start FROM cdr c"
                " WHERE c.id = cdr_charges.cdr_id AND c.vnum = :n"
            ),
            {"n": es.number},
        )
    round_at(factory, settings, dt.datetime(2026, 3, 9, 8, 5, tzinfo=madrid))

    [mail] = to(smtp_server, email_of(factory, es))
    assert mail.message["Subject"] == f"{settings.operator_name}: su semana 2026-W10 (del 2 mar al 8 mar)"
    body = body_of(mail)
    assert "Su semana 2026-W10, del 2/3/2026 al 8/3/2026 (Europe/Madrid):" in body, body
    figures = body.splitlines()[2:7]  # the heading, a blank line, the five figures
    labels = dict(line.split(":", 1) for line in figures)
    assert {k: v.strip() for k, v in labels.items()} == {
        "Llamadas": "2",
        "Minutos": "3",  # 125 s, rounded up
        "Gasto": "1.234,50\xa0US$",
        "Mensajes de voz": "1",
        "Llamadas perdidas": "1",
    }, body
    # the values in one column after the labels (the longest label's one space further, as in English)
    longest = max(figures, key=lambda line: len(line.split(":", 1)[0]))
    columns = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in figures if line != longest}
    assert len(columns) == 1, body
    assert f"Su historial de llamadas: {settings.panel_base_url}/call-history/" in body


def test_voicemail_email_in_french_for_a_french_account(factory, settings, smtp_server):
    fr = member(factory, settings, time_zone="Europe/Paris", language="fr")
    en = member(factory, settings, time_zone="Europe/Paris", language="en")
    received = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(
        seconds=notifications.VOICEMAIL_RETRY_AFTER_S + 60
    )
    with transaction(factory) as s:
        for who in (fr, en):
            s.add(
                VoicemailMessage(
                    virtual_number_id=who.virtual_number_id,
                    audio=b"RIFF",
                    received_at=received,
                    duration_seconds=62.5,
                    caller_name="",
                    caller_number="13125550100",
                )
            )
    switch(factory, en, voicemail_attach=False)
    switch(factory, fr, voicemail_attach=False)
    round_at(factory, settings)

    [mail] = to(smtp_server, email_of(factory, fr))
    assert mail.message["Subject"] == f"Nouveau message vocal pour {fr.number} de 13125550100"
    body = body_of(mail)
    local = received.astimezone(notifications.zone("Europe/Paris"))
    assert f"Vous avez un nouveau message vocal sur le {fr.number}." in body
    assert f"Reçu : {local:%d/%m/%Y %H:%M:%S} {local.tzname()} (Europe/Paris)" in body, body
    assert "Durée : 1:03" in body
    assert (
        f"Écoutez-le dans votre panneau de contrôle : {settings.panel_base_url}/voicemail/{fr.number}/"
        in body
    )

    [mail] = to(smtp_server, email_of(factory, en))
    assert mail.message["Subject"] == f"New voicemail for {en.number} from 13125550100"
    assert "Length: 1:03\n" in body_of(mail)
