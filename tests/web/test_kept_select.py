"""choices.KeptSelect (issue 16: Speed) renders exactly WTForms' Select, whatever is selected,
whichever choices a field has on the request, and never a kept one that does not apply."""

from __future__ import annotations

from wtforms import Form, SelectField
from wtforms.widgets import Select

from webpanel import choices


def _forms(data: str, groups) -> tuple[str, str]:
    class Kept(Form):
        pick = SelectField("Pick", choices=[], widget=choices.KeptSelect())

    class Plain(Form):
        pick = SelectField("Pick", choices=[], widget=Select())

    kept, plain = Kept(data={"pick": data}), Plain(data={"pick": data})
    kept.pick.choices, plain.pick.choices = groups, groups
    return str(kept.pick(class_="x")), str(plain.pick(class_="x"))


def test_the_kept_select_is_the_same_markup_for_every_value_and_choice_list():
    zones = {"Europe": choices.options([("Europe/Paris", "Paris"), ("Europe/Rome", "Rome")])}
    other = {"Europe": choices.options([("Europe/Paris", "Paris (renamed)"), ("Europe/Rome", "Rome")])}
    flat = choices.options([("", "Any"), ("FR", "France"), ("IT", "Italy")])
    for groups in (zones, other, flat, zones):  # a second time: the kept markup
        for value in ("Europe/Paris", "Europe/Rome", "FR", "IT", "", "nowhere"):
            kept, plain = _forms(value, groups)
            assert kept == plain
    kept, _plain = _forms("Europe/Rome", other)
    assert '<option selected value="Europe/Rome">' in kept and "Paris (renamed)" in kept


def test_the_kept_selects_are_bounded():
    for i in range(choices.KeptSelect.SIZE + 5):
        _forms(str(i), choices.options([(str(i), "n")]))
    assert len(choices.KeptSelect._kept) <= choices.KeptSelect.SIZE
