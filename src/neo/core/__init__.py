"""Shared basics every stage uses: settings, errors, dates, logging, output."""
