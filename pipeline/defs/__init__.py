"""Dagster wiring: thin assets, checks, schedules and sensors over the domain modules."""
