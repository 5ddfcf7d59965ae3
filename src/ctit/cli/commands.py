"""Registers every subcommand module with the app."""

from ctit.cli import analyze, dose, example, export, grade, protocol, report, synth, validate  # noqa: F401
