from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip


class VoucherForm(FlaskForm):
    code = StringField(
        _l("Voucher code"),
        [
            DataRequired(_l("Enter the voucher code.")),
            Length(max=64, message=_l("A voucher code has at most 32 letters and digits.")),
        ],
        filters=[strip],
        render_kw={
            "autocomplete": "off",
            "autocapitalize": "characters",
            "spellcheck": "false",
            "placeholder": "XXXX-XXXX-XXXX-XXXX",
        },
    )
