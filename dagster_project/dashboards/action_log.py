"""Superset's action log (its `logs` table: who opened which dashboard and chart, when, how
long it took), written once per request instead of once per event.

Superset's own `DBEventLogger` commits the request's database session at every event, and a
chart query has six (the data endpoint, the response, the JSON, the SQL, the data frame, the
post-processing): six writes of the metadata database, and every commit expires the objects
the request had loaded (its chart, dataset and database), which are then read again. About a
fifth of a chart query's time went there (docs/benchmarks-journal.md, "Superset's action log,
DuckDB's reserved words and `hub serve`").

Here the events of a request are kept in the request's context and written together in one
commit when the request ends (`teardown_request`), with the same rows, columns and values.
Outside a request (a command line, a worker) each event is written at once, as Superset does.
superset/superset_config.py sets EVENT_LOGGER to `RequestActionLog()` and registers `flush` with
FLASK_APP_MUTATOR. Plain Python: no Dagster imports.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import g, has_request_context
from sqlalchemy.exc import SQLAlchemyError
from superset.utils.log import DBEventLogger

_PENDING = "_hub_action_log"  # the request's events not yet written (on flask.g)


def _rows(user_id: int | None, action: str, dashboard_id: int | None,
          duration_ms: int | None, slice_id: int | None, referrer: str | None,
          kwargs: dict[str, Any]) -> list[Any]:
    """The `logs` rows of one event, as DBEventLogger.log makes them (Superset 6.1)."""
    from superset.models.core import Log

    records = kwargs.get("records", [])
    if not records and kwargs.get("curated_payload"):
        records = [kwargs["curated_payload"]]
    rows = []
    for record in records:
        try:
            text: str | None = json.dumps(record)
        except Exception:  # as Superset: an event that cannot be dumped keeps no JSON
            text = None
        rows.append(Log(action=action, json=text,
                        dashboard_id=dashboard_id or record.get("dashboard_id"),
                        slice_id=slice_id or record.get("slice_id"), duration_ms=duration_ms,
                        referrer=referrer, user_id=user_id))
    return rows


class RequestActionLog(DBEventLogger):
    """DBEventLogger whose events of a request are written in one commit at its end."""

    def log(self, user_id: int | None, action: str, dashboard_id: int | None,
            duration_ms: int | None, slice_id: int | None, referrer: str | None,
            *args: Any, **kwargs: Any) -> None:
        if not has_request_context():
            super().log(user_id, action, dashboard_id, duration_ms, slice_id, referrer,
                        *args, **kwargs)
            return
        pending = g.setdefault(_PENDING, [])
        pending.extend(_rows(user_id, action, dashboard_id, duration_ms, slice_id, referrer,
                             kwargs))


def flush(error: BaseException | None = None) -> None:
    """Write the request's events (teardown_request: once the response is made, before it is
    sent and before the request's session is removed). After a failed request its session is
    rolled back first, as removing it would do, so that the events are written whatever the
    request left undone."""
    pending = g.pop(_PENDING, None)
    if not pending:
        return
    from superset import db

    try:
        if error is not None:
            db.session.rollback()
        db.session.bulk_save_objects(pending)
        db.session.commit()
    except SQLAlchemyError:
        logging.exception("the action log could not write %d event(s)", len(pending))
        try:
            db.session.rollback()
        except Exception:  # as Superset: a failed rollback must not end the request
            logging.error("the action log could not roll its session back")


def register(app: Any) -> None:
    """FLASK_APP_MUTATOR: write each request's events when it ends."""
    app.teardown_request(flush)
