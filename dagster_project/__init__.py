"""Hub Warehouse: the `hub` command, its Dagster code location and the modules they call.

Every process that imports this package (hub's commands, a build with its dbt, Dagster's servers
and runs, Superset's workers through superset/superset_config.py, the test suite) runs Python's
cyclic garbage collector less often. At Python's default (a collection every 700 new container
objects) it runs thousands of times while dbt, Dagster and SQLAlchemy build their objects, each
time scanning the young ones again; at 100,000 a build of the suite's sample takes about 5 %
less CPU with the same peak memory (docs/architecture.md, "What a build costs").

It also asks DuckDB's memory allocator to overwrite the memory DuckDB frees, before any module
imports DuckDB (dagster_project/freed_memory.py): otherwise bytes of clear personal values can
reach the database files.
"""

import gc

from dagster_project import freed_memory

freed_memory.request()

GC_THRESHOLDS = (100_000, 50, 100)

if gc.get_threshold()[0] < GC_THRESHOLDS[0]:
    gc.set_threshold(*GC_THRESHOLDS)
