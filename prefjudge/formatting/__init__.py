"""Rows in TRL's formats and chat templates: the one formatter and renderer that curation (export) and training both use."""
