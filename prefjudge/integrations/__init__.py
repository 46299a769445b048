"""Adapters to other tools: the TRL judge interface."""
