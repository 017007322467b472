"""The operator admin section (role admin only): one blueprint (blueprint.py) whose routes are
in views.py (accounts, users, audit log), catalog_views.py (DIDs, rate decks, plans, vouchers),
dialplan_views.py, mail_views.py (the demo's sent mail) and service_numbers_views.py (the
platform's own numbers); importing the package registers them all on `bp`."""

from webpanel.admin import (  # noqa: F401  (they register routes)
    carriers_views,
    catalog_views,
    dialplan_views,
    fraud_views,
    mail_views,
    service_numbers_views,
    views,
)
from webpanel.admin.blueprint import bp

__all__ = ["bp"]
