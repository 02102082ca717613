"""Dagster definitions: thin wrappers that call the plain modules of `dagster_project`."""
