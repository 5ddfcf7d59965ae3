"""Registers every subcommand module with the app."""

from ctit.cli import analyze, dose, example, grade, protocol, report, validate  # noqa: F401
