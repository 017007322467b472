"""The operator admin section (role admin only): one blueprint (blueprint.py) whose routes are
in views.py (accounts, users, audit log), catalog_views.py (DIDs, rate decks, plans, vouchers),
dialplan_views.py, mail_views.py (the demo's sent mail) and service_numbers_views.py (the
platform's own numbers); importing the package registers them all on `bp`."""

from webpanel.admin import (  # noqa: F401  (they register routes)
    api_tokens_views,  # issue 15, the REST API's tokens
    bulk_views,  # issue 15: bulk import
    carriers_views,
    catalog_views,
    dialplan_views,
    fraud_views,
    invoices_views,  # issue 15
    live_views,  # issue 15: live calls
    mail_views,
    money_views,  # issue 15: money by hand
    number_options_views,  # issue 15: a member's virtual-number options
    records_views,
    reports_views,  # issue 15: reports with charts
    service_numbers_views,
    views,
    webhooks_views,  # issue 15: the operator's webhooks and every delivery
)
from webpanel.admin.blueprint import bp

__all__ = ["bp"]
