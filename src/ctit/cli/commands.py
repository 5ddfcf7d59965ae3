"""Registers every subcommand module with the app."""

from ctit.cli import dose, grade, validate  # noqa: F401
