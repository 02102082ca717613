"""Landing files → DuckDB `raw` schema. Plain Python: no Dagster imports here."""

from dagster_project.ingest.discovery import LandingFile, discover_files
from dagster_project.ingest.loader import FileResult, LoadReport, load_source
from dagster_project.ingest.raw_tables import write_partner_config

__all__ = [
    "FileResult",
    "LandingFile",
    "LoadReport",
    "discover_files",
    "load_source",
    "write_partner_config",
]
