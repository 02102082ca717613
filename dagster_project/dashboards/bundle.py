"""Build Superset's import bundle from the dashboards-as-code under `superset/assets/`.

The files are Superset's export format (`metadata.yaml`, `databases/`, `datasets/<db>/`,
`charts/`, `dashboards/`). Three things are filled in here so that they live in one place only:

- the database URI points at the serving warehouse of these settings, read-only;
- every dataset's columns (names, types, descriptions) come from the dbt manifest and the
  serving warehouse; a dataset file lists only metrics and column overrides;
- a description written `doc:<name>` is replaced by dbt's doc block `<name>`, so metric
  definitions are the KPI definitions of the dbt docs.

A chart's `query_context` may be written as a mapping; it is encoded as the JSON string the
format expects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dagster_project import duck

DOC_PREFIX = "doc:"
TEMPORAL_TYPES = ("DATE", "TIMESTAMP")


class BundleError(ValueError):
    """An asset file is inconsistent with the dbt project or the warehouse."""


def serving_uri(serving_db: Path) -> str:
    """Read-only DuckDB URI; external access off so SQL Lab cannot read files or attach."""
    return f"duckdb:///{serving_db}?access_mode=READ_ONLY&enable_external_access=false"


def load_manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _doc_blocks(manifest: dict[str, Any]) -> dict[str, str]:
    return {doc["name"]: doc["block_contents"].strip() for doc in manifest["docs"].values()}


def _model_nodes(manifest: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(node["schema"], node["name"]): node for node in manifest["nodes"].values()
            if node["resource_type"] in ("model", "seed")}


def _resolve_doc(text: Any, docs: dict[str, str], where: str) -> Any:
    if isinstance(text, str) and text.startswith(DOC_PREFIX):
        name = text[len(DOC_PREFIX):].strip()
        if name not in docs:
            raise BundleError(f"{where}: no dbt doc block named {name!r}")
        return " ".join(docs[name].split())
    return text


def _warehouse_columns(serving_db: Path) -> dict[tuple[str, str], list[tuple[str, str]]]:
    con = duck.connect(serving_db, read_only=True)
    try:
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns order by table_schema, table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows:
        columns.setdefault((schema, table), []).append((column, data_type))
    return columns


def _dataset_columns(config: dict[str, Any], node: dict[str, Any],
                     types: list[tuple[str, str]]) -> list[dict[str, Any]]:
    overrides = {c["column_name"]: c for c in config.get("columns") or []}
    described = node.get("columns", {})
    columns = []
    for name, data_type in types:
        doc = described.get(name, {}).get("description") or None
        column = {
            "column_name": name,
            "verbose_name": None,
            "is_dttm": data_type.upper().startswith(TEMPORAL_TYPES),
            "is_active": True,
            "type": data_type,
            "groupby": True,
            "filterable": True,
            "expression": None,
            "description": " ".join(doc.split()) if doc else None,
            "python_date_format": None,
            "extra": {},
        }
        column.update(overrides.pop(name, {}))
        columns.append(column)
    for name, override in overrides.items():
        if not override.get("expression"):
            raise BundleError(f"dataset {config['table_name']}: column {name!r} is neither in "
                              "the warehouse nor a calculated column (no expression)")
        columns.append({"is_active": True, "groupby": True, "filterable": True,
                        "is_dttm": False, "type": None, "extra": {}, **override})
    return columns


def _dataset(config: dict[str, Any], nodes: dict, docs: dict[str, str],
             warehouse: dict, metric_sets: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    key = (config["schema"], config["table_name"])
    if key not in nodes:
        raise BundleError(f"dataset {key[0]}.{key[1]} is not a dbt model or seed")
    if key not in warehouse:
        raise BundleError(f"dataset {key[0]}.{key[1]} is not in the serving warehouse "
                          "(run `hub build`)")
    node = nodes[key]
    config = dict(config)
    config["columns"] = _dataset_columns(config, node, warehouse[key])
    config["description"] = config.get("description") or " ".join(node["description"].split())
    metrics = []
    shared = []
    for name in config.pop("metric_sets", None) or []:
        if name not in metric_sets:
            raise BundleError(f"dataset {config['table_name']}: no metric set {name!r}")
        shared += metric_sets[name]
    for metric in shared + (config.get("metrics") or []):
        metric = dict(metric)
        metric["description"] = _resolve_doc(metric.get("description"), docs,
                                             f"metric {metric['metric_name']}")
        metrics.append(metric)
    config["metrics"] = metrics
    return config


def _chart(config: dict[str, Any]) -> dict[str, Any]:
    config = dict(config)
    context = config.get("query_context")
    if isinstance(context, dict):
        context = dict(context)
        context.setdefault("form_data", config.get("params", {}))
        config["query_context"] = json.dumps(context)
    return config


def read_sources(assets_dir: Path) -> dict[str, dict[str, Any]]:
    """The asset files as parsed YAML, keyed by their path relative to `assets_dir`."""
    sources = {}
    for path in sorted(assets_dir.rglob("*.yaml")):
        relative = path.relative_to(assets_dir).as_posix()
        sources[relative] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "metadata.yaml" not in sources:
        raise BundleError(f"{assets_dir}: metadata.yaml is missing")
    return sources


def build_bundle(assets_dir: Path, manifest_file: Path, serving_db: Path) -> dict[str, str]:
    """The contents for ImportAssetsCommand: {relative path: YAML text}.

    Shared metric sets live in `metrics.yaml` beside `assets_dir`.
    """
    metrics_file = assets_dir.parent / "metrics.yaml"
    metric_sets = (yaml.safe_load(metrics_file.read_text(encoding="utf-8"))
                   if metrics_file.exists() else {})
    manifest = load_manifest(manifest_file)
    docs, nodes = _doc_blocks(manifest), _model_nodes(manifest)
    warehouse = _warehouse_columns(serving_db)
    contents = {}
    for relative, config in read_sources(assets_dir).items():
        if relative.startswith("databases/"):
            config = dict(config, sqlalchemy_uri=serving_uri(serving_db))
        elif relative.startswith("datasets/"):
            config = _dataset(config, nodes, docs, warehouse, metric_sets)
        elif relative.startswith("charts/"):
            config = _chart(config)
        contents[relative] = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    return contents

