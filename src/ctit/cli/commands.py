"""Registers every subcommand module with the app."""

from ctit.cli import analyze, dose, grade, protocol, validate  # noqa: F401
