"""The operator admin section (role admin only): see webpanel.admin.views."""
