"""Registers every subcommand module with the app."""

from ctit.cli import (  # noqa: F401
    analyze, dose, example, export, grade, omop, protocol, report, sensitivity, synth, validate,
)
