"""The monthly board pack (issue 12): figures read from the published warehouse, written as
deterministic sentences (commentary.py) in the formats a board paper uses (formats.py).
Plain Python: no Dagster imports."""
