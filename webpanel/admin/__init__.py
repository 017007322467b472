"""The operator admin section (role admin only): one blueprint (blueprint.py) whose routes are
in views.py (accounts, users, audit log), catalog_views.py (DIDs, rate decks, plans, vouchers),
dialplan_views.py and mail_views.py (the demo's sent mail); importing the package registers them
all on `bp`."""

from webpanel.admin import catalog_views, dialplan_views, mail_views, views  # noqa: F401  (they register routes)
from webpanel.admin.blueprint import bp

__all__ = ["bp"]
