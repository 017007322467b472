"""The operator admin section (role admin only): one blueprint (blueprint.py) whose routes are
in views.py (accounts, users, audit log), catalog_views.py (DIDs, rate decks, plans, vouchers)
and dialplan_views.py; importing the package registers them all on `bp`."""

from webpanel.admin import catalog_views, dialplan_views, views  # noqa: F401  (they register routes)
from webpanel.admin.blueprint import bp

__all__ = ["bp"]
