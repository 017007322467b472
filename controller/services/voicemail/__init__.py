"""The voicemail service, its media and MWI, shared by the panel and the Stasis apps."""
