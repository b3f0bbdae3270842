"""Shared test helpers: given/when/then for aggregates and infrastructure fixtures."""
