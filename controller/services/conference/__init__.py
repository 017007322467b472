"""The conference service and its email invites, shared by the panel and the Stasis app."""
