from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from webpanel import choices
from webpanel.validation import EmailAddress, strip


class AccountForm(FlaskForm):
    first_name = StringField("First Name", [DataRequired("Enter your first name."), Length(max=80)],
                             filters=[strip], render_kw={"autocomplete": "given-name"})
    last_name = StringField("Last Name", [DataRequired("Enter your last name."), Length(max=80)],
                            filters=[strip], render_kw={"autocomplete": "family-name"})
    company = StringField("Company", [Length(max=120)], filters=[strip],
                          render_kw={"autocomplete": "organization"})
    address1 = StringField("Address", [Length(max=120)], filters=[strip],
                           render_kw={"autocomplete": "address-line1"})
    address2 = StringField("Address (second line)", [Length(max=120)], filters=[strip],
                           render_kw={"autocomplete": "address-line2"})
    city = StringField("City", [Length(max=80)], filters=[strip],
                       render_kw={"autocomplete": "address-level2"})
    state = StringField("State", [Length(max=80)], filters=[strip],
                        render_kw={"autocomplete": "address-level1"})
    postal_code = StringField("Postal Code", [Length(max=20)], filters=[strip],
                              render_kw={"autocomplete": "postal-code"})
    country = SelectField("Country", choices=choices.options(choices.countries()), validate_choice=True)
    time_zone = SelectField("Time Zone", choices=choices.time_zones(), validate_choice=True)
    language = SelectField("Language", choices=choices.options(choices.LANGUAGES), validate_choice=True)
    email = EmailField("Email address", [DataRequired("Enter your email address."), Length(max=254),
                                         EmailAddress()],
                       filters=[strip], render_kw={"autocomplete": "email"})
    pstn_phone = StringField("PSTN Phone", [Length(max=32)], filters=[strip],
                             render_kw={"autocomplete": "tel", "inputmode": "tel"})
    pstn_fax = StringField("PSTN Fax", [Length(max=32)], filters=[strip],
                           render_kw={"inputmode": "tel"})
