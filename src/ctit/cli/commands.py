"""Registers every subcommand module with the app."""

from ctit.cli import analyze, dose, example, export, grade, omop, protocol, report, validate  # noqa: F401
