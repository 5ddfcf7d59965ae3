"""Registers every subcommand module with the app."""

from ctit.cli import analyze, dose, example, export, grade, protocol, report, sensitivity, validate  # noqa: F401
