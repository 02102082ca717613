"""Dashboards as code without a Superset server: the import bundle built from superset/assets
and the dbt manifest (dagster_project/dashboards/bundle.py), who sees what (security.py) and
the generated secrets (secrets.py). Real DuckDB files, the real dbt manifest."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from dagster_project.dashboards import secrets, security
from dagster_project.dashboards.bundle import (
    BundleError,
    build_bundle,
    load_manifest,
    read_sources,
    serving_uri,
)
from dagster_project.dashboards.settings import SupersetSettings
from dagster_project.dbt_runner import ensure_manifest
from dagster_project.partners import load_partners
from dagster_project.settings import REPO_ROOT, Settings

PARTNERS_DIR = REPO_ROOT / "seeds" / "partners"
ASSETS = REPO_ROOT / "superset" / "assets"
DATABASE_FILE = "databases/hub_warehouse.yaml"
DATABASE_UUID = yaml.safe_load((ASSETS / DATABASE_FILE).read_text())["uuid"]
TEMPORAL_SUFFIXES = ("_date", "_day", "_month", "_at", "_start")


@pytest.fixture(scope="module")
def manifest_file() -> Path:
    return ensure_manifest(Settings.from_env())


@pytest.fixture(scope="module")
def manifest(manifest_file) -> dict[str, Any]:
    return load_manifest(manifest_file)


def _node(manifest: dict[str, Any], schema: str, name: str) -> dict[str, Any]:
    return next(n for n in manifest["nodes"].values()
                if n["resource_type"] in ("model", "seed")
                and (n["schema"], n["name"]) == (schema, name))


def _doc(manifest: dict[str, Any], name: str) -> str:
    block = next(d for d in manifest["docs"].values() if d["name"] == name)
    return " ".join(block["block_contents"].split())


def _warehouse(path: Path, tables: dict[tuple[str, str], list[tuple[str, str]]]) -> Path:
    """A real DuckDB file with these (schema, table) -> [(column, type)] tables, one row each."""
    con = duckdb.connect(str(path))
    try:
        for (schema, table), columns in tables.items():
            con.execute(f'create schema if not exists "{schema}"')
            cols = ", ".join(f'"{name}" {kind}' for name, kind in columns)
            con.execute(f'create table "{schema}"."{table}" ({cols})')
    finally:
        con.close()
    return path


def _guess_type(column: str) -> str:
    return "DATE" if column == "month" or column.endswith(TEMPORAL_SUFFIXES) else "VARCHAR"


def _model_columns(manifest: dict[str, Any], schema: str, table: str) -> list[tuple[str, str]]:
    node = _node(manifest, schema, table)
    return [(name, col.get("data_type") or _guess_type(name))
            for name, col in node["columns"].items()]


def _assets(root: Path, files: dict[str, dict[str, Any]],
            metric_sets: dict[str, Any] | None = None) -> Path:
    """An assets folder like superset/assets: metadata, the real database file, `files`."""
    assets = root / "assets"
    for relative, content in {
        "metadata.yaml": yaml.safe_load((ASSETS / "metadata.yaml").read_text()),
        DATABASE_FILE: yaml.safe_load((ASSETS / DATABASE_FILE).read_text()),
        **files,
    }.items():
        path = assets / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    if metric_sets is not None:
        (root / "metrics.yaml").write_text(yaml.safe_dump(metric_sets), encoding="utf-8")
    return assets


def _dataset(table: str = "kpi_telephony_monthly", **extra: Any) -> dict[str, Any]:
    return {"table_name": table, "schema": "marts", "main_dttm_col": "month",
            "description": None, "uuid": "11111111-1111-5111-8111-111111111111",
            "database_uuid": DATABASE_UUID, "version": "1.0.0", **extra}


@pytest.fixture
def monthly_warehouse(tmp_path, manifest) -> Path:
    return _warehouse(tmp_path / "serving.duckdb", {
        ("marts", "kpi_telephony_monthly"): _model_columns(manifest, "marts",
                                                            "kpi_telephony_monthly")})


def _built(contents: dict[str, str], relative: str) -> dict[str, Any]:
    return yaml.safe_load(contents[relative])


# --- bundle.py ------------------------------------------------------------------------------


def test_database_uri_is_the_serving_file_read_only(tmp_path, manifest_file,
                                                    monthly_warehouse):
    contents = build_bundle(_assets(tmp_path, {}), manifest_file, monthly_warehouse)
    uri = _built(contents, DATABASE_FILE)["sqlalchemy_uri"]
    assert uri == serving_uri(monthly_warehouse)
    assert uri.startswith(f"duckdb:///{monthly_warehouse}?")
    assert "access_mode=READ_ONLY" in uri and "enable_external_access=false" in uri


def test_dataset_columns_come_from_warehouse_and_dbt_docs(tmp_path, manifest, manifest_file,
                                                          monthly_warehouse):
    relative = "datasets/hub_warehouse/monthly.yaml"
    contents = build_bundle(_assets(tmp_path, {relative: _dataset()}), manifest_file,
                            monthly_warehouse)
    dataset = _built(contents, relative)
    node = _node(manifest, "marts", "kpi_telephony_monthly")
    columns = {c["column_name"]: c for c in dataset["columns"]}
    assert list(columns) == list(node["columns"])
    month = columns["month"]
    assert month["is_dttm"] is True and month["type"] == "DATE"
    assert month["description"] == " ".join(node["columns"]["month"]["description"].split())
    assert columns["partner_code"]["is_dttm"] is False
    assert dataset["description"] == " ".join(node["description"].split())


def test_doc_description_resolves_to_dbt_doc_block(tmp_path, manifest, manifest_file,
                                                   monthly_warehouse):
    relative = "datasets/hub_warehouse/monthly.yaml"
    dataset = _dataset(metrics=[
        {"metric_name": "tsf", "expression": "sum(tsf_numerator)",
         "description": "doc:kpi_tsf_pct"},
        {"metric_name": "plain", "expression": "count(*)", "description": "Just text."},
    ])
    contents = build_bundle(_assets(tmp_path, {relative: dataset}), manifest_file,
                            monthly_warehouse)
    metrics = {m["metric_name"]: m for m in _built(contents, relative)["metrics"]}
    assert metrics["tsf"]["description"] == _doc(manifest, "kpi_tsf_pct")
    assert metrics["plain"]["description"] == "Just text."


def test_unknown_doc_block_is_an_error(tmp_path, manifest_file, monthly_warehouse):
    dataset = _dataset(metrics=[{"metric_name": "tsf", "expression": "1",
                                 "description": "doc:kpi_no_such_block"}])
    assets = _assets(tmp_path, {"datasets/hub_warehouse/monthly.yaml": dataset})
    with pytest.raises(BundleError, match=r"metric tsf: no dbt doc block named "
                                          r"'kpi_no_such_block'"):
        build_bundle(assets, manifest_file, monthly_warehouse)


def test_dataset_missing_from_warehouse_is_an_error(tmp_path, manifest_file,
                                                    monthly_warehouse):
    assets = _assets(tmp_path, {"datasets/hub_warehouse/scorecard.yaml":
                                _dataset("kpi_scorecard")})
    with pytest.raises(BundleError, match=r"marts\.kpi_scorecard is not in the serving "
                                          r"warehouse \(run `hub build`\)"):
        build_bundle(assets, manifest_file, monthly_warehouse)


def test_dataset_that_is_no_dbt_model_is_an_error(tmp_path, manifest_file, monthly_warehouse):
    assets = _assets(tmp_path, {"datasets/hub_warehouse/x.yaml": _dataset("not_a_model")})
    with pytest.raises(BundleError, match=r"marts\.not_a_model is not a dbt model or seed"):
        build_bundle(assets, manifest_file, monthly_warehouse)


def test_override_of_unknown_column_needs_an_expression(tmp_path, manifest_file,
                                                        monthly_warehouse):
    relative = "datasets/hub_warehouse/monthly.yaml"
    bad = _dataset(columns=[{"column_name": "no_such_column", "verbose_name": "Nope"}])
    with pytest.raises(BundleError, match=r"dataset kpi_telephony_monthly: column "
                                          r"'no_such_column' is neither in the warehouse nor "
                                          r"a calculated column"):
        build_bundle(_assets(tmp_path / "bad", {relative: bad}), manifest_file,
                     monthly_warehouse)
    good = _dataset(columns=[
        {"column_name": "period", "expression": "strftime(month, '%Y-%m')", "type": "VARCHAR"},
        {"column_name": "offered", "verbose_name": "Calls offered"},
    ])
    contents = build_bundle(_assets(tmp_path / "good", {relative: good}), manifest_file,
                            monthly_warehouse)
    columns = {c["column_name"]: c for c in _built(contents, relative)["columns"]}
    assert columns["period"]["expression"] == "strftime(month, '%Y-%m')"
    assert columns["offered"]["verbose_name"] == "Calls offered"
    assert list(columns)[-1] == "period"


def test_metric_sets_expand_before_the_datasets_own_metrics(tmp_path, manifest,
                                                            manifest_file, monthly_warehouse):
    relative = "datasets/hub_warehouse/monthly.yaml"
    sets = {"volumes": [
        {"metric_name": "offered", "expression": "sum(offered)", "description": "doc:kpi_offered"},
        {"metric_name": "answered", "expression": "sum(answered)"},
    ], "unused": [{"metric_name": "never", "expression": "1"}]}
    dataset = _dataset(metric_sets=["volumes"],
                       metrics=[{"metric_name": "own", "expression": "count(*)"}])
    contents = build_bundle(_assets(tmp_path, {relative: dataset}, sets), manifest_file,
                            monthly_warehouse)
    built = _built(contents, relative)
    assert "metric_sets" not in built
    assert [m["metric_name"] for m in built["metrics"]] == ["offered", "answered", "own"]
    assert built["metrics"][0]["description"] == _doc(manifest, "kpi_offered")

    unknown = _dataset(metric_sets=["no_such_set"])
    with pytest.raises(BundleError, match="no metric set 'no_such_set'"):
        build_bundle(_assets(tmp_path / "unknown", {relative: unknown}, sets), manifest_file,
                     monthly_warehouse)


def test_query_context_mapping_becomes_a_json_string(tmp_path, manifest_file,
                                                     monthly_warehouse):
    params = {"datasource": "1__table", "viz_type": "big_number_total", "metric": "offered"}
    context = {"datasource": {"id": 1, "type": "table"},
               "queries": [{"columns": [], "metrics": ["offered"]}],
               "result_format": "json", "result_type": "full"}
    chart = {"slice_name": "Offered", "viz_type": "big_number_total", "params": params,
             "query_context": context, "uuid": "22222222-2222-5222-8222-222222222222",
             "dataset_uuid": "11111111-1111-5111-8111-111111111111", "version": "1.0.0"}
    as_string = dict(chart, uuid="33333333-3333-5333-8333-333333333333",
                     query_context=json.dumps(context))
    contents = build_bundle(_assets(tmp_path, {"charts/offered.yaml": chart,
                                               "charts/string.yaml": as_string}),
                            manifest_file, monthly_warehouse)
    built = _built(contents, "charts/offered.yaml")
    assert isinstance(built["query_context"], str)
    decoded = json.loads(built["query_context"])
    assert decoded["queries"] == context["queries"]
    assert decoded["form_data"] == params
    assert _built(contents, "charts/string.yaml")["query_context"] == json.dumps(context)


def test_missing_metadata_is_an_error(tmp_path):
    (tmp_path / "charts").mkdir()
    with pytest.raises(BundleError, match=r"metadata\.yaml is missing"):
        read_sources(tmp_path)


# --- the repository's assets ----------------------------------------------------------------


@pytest.fixture(scope="module")
def sources() -> dict[str, dict[str, Any]]:
    return read_sources(ASSETS)


def _of_kind(sources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {rel: content for rel, content in sources.items() if rel.startswith(f"{kind}/")}


def test_repository_assets_reference_existing_uuids(sources):
    databases = {c["uuid"] for c in _of_kind(sources, "databases").values()}
    datasets = _of_kind(sources, "datasets")
    charts = _of_kind(sources, "charts")
    dashboards = _of_kind(sources, "dashboards")
    assert datasets and charts and dashboards, "superset/assets has no datasets, charts or " \
                                               "dashboards"
    for kind in ("databases", "datasets", "charts", "dashboards"):
        uuids = [c["uuid"] for c in _of_kind(sources, kind).values()]
        assert len(uuids) == len(set(uuids)), f"duplicate uuids among {kind}"
    for rel, dataset in datasets.items():
        assert dataset["database_uuid"] in databases, f"{rel}: unknown database_uuid"
    dataset_uuids = {c["uuid"] for c in datasets.values()}
    for rel, chart in charts.items():
        assert chart["dataset_uuid"] in dataset_uuids, f"{rel}: unknown dataset_uuid " \
                                                       f"{chart['dataset_uuid']}"
        assert chart.get("query_context"), f"{rel}: no query_context (chart data would 404)"
        assert chart["params"]["viz_type"] == chart["viz_type"], f"{rel}: viz_type differs"
    chart_uuids = {c["uuid"] for c in charts.values()}
    slugs = []
    for rel, dashboard in dashboards.items():
        slugs.append(dashboard["slug"])
        placed = [node for node in dashboard["position"].values()
                  if isinstance(node, dict) and node.get("type") == "CHART"]
        assert placed, f"{rel}: no charts in position"
        chart_ids = [node["meta"]["chartId"] for node in placed]
        assert len(chart_ids) == len(set(chart_ids)), f"{rel}: meta.chartId not unique"
        for node in placed:
            assert node["meta"].get("uuid") in chart_uuids, \
                f"{rel}: {node['id']} refers to unknown chart uuid {node['meta'].get('uuid')}"
    assert len(slugs) == len(set(slugs)), "duplicate dashboard slugs"
    assert set(security.BOARD_DASHBOARDS) <= set(slugs), \
        "dashboards granted to roles in security.py are missing from superset/assets"


def _column_names(query_column: Any) -> list[str]:
    if isinstance(query_column, str):
        return [query_column]
    if isinstance(query_column, dict) and query_column.get("columnType") == "BASE_AXIS":
        return [query_column["sqlExpression"]]
    return []  # an ad-hoc SQL column: checked by the figures tests against a real Superset


def test_repository_assets_build_and_charts_name_existing_metrics_and_columns(
        tmp_path, manifest, manifest_file, sources):
    """The whole bundle builds against a warehouse with the dbt models' columns, and every
    chart's query names metrics and columns its dataset has."""
    datasets = _of_kind(sources, "datasets")
    tables = {(d["schema"], d["table_name"]): _model_columns(manifest, d["schema"],
                                                              d["table_name"])
              for d in datasets.values()}
    contents = build_bundle(ASSETS, manifest_file, _warehouse(tmp_path / "w.duckdb", tables))
    assert set(contents) == set(sources)
    assert "doc:" not in "".join(contents.values()), "an unresolved doc:<name> description"
    built = {rel: yaml.safe_load(text) for rel, text in contents.items()}
    by_uuid = {d["uuid"]: d for rel, d in built.items() if rel.startswith("datasets/")}
    problems = []
    for rel, chart in built.items():
        if not rel.startswith("charts/"):
            continue
        dataset = by_uuid[chart["dataset_uuid"]]
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        columns = {c["column_name"] for c in dataset["columns"]}
        context = json.loads(chart["query_context"])
        for query in context["queries"]:
            for metric in query.get("metrics") or []:
                if isinstance(metric, str) and metric not in metrics:
                    problems.append(f"{rel}: metric {metric!r} is not a metric of "
                                    f"{dataset['table_name']}")
            names = [n for c in query.get("columns") or [] for n in _column_names(c)]
            names += [f["col"] for f in query.get("filters") or [] if isinstance(f["col"], str)]
            for name in names:
                if name not in columns:
                    problems.append(f"{rel}: column {name!r} is neither a column of "
                                    f"{dataset['table_name']} (dbt) nor a calculated column")
            for order, _ascending in query.get("orderby") or []:
                if isinstance(order, str) and order not in metrics | columns:
                    problems.append(f"{rel}: orders by unknown {order!r}")
    assert not problems, "\n".join(problems)


# --- security.py ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def partner_codes() -> list[str]:
    return list(load_partners(PARTNERS_DIR))


def test_one_partner_role_per_partner_config(partner_codes):
    files = sorted(p.stem for p in PARTNERS_DIR.glob("*.yml"))
    assert sorted(partner_codes) == files
    specs = {s.name: s for s in security.role_specs(partner_codes)}
    partner_specs = {name: s for name, s in specs.items() if name.startswith("Partner_")}
    assert sorted(partner_specs) == [f"Partner_{code}" for code in files]
    for code in files:
        spec = partner_specs[f"Partner_{code}"]
        assert spec.partner_code == code
        assert spec.sql_lab is False, "SQL Lab would bypass row-level security"
        assert set(spec.dashboards) == {"partner-report", "data-quality", "channels-cost",
                                        "customer-experience", "service-standards"}
    board, explorer = specs[security.BOARD_ROLE], specs[security.EXPLORER_ROLE]
    assert board.all_datasets and not board.sql_lab and board.partner_code is None
    assert explorer.sql_lab and explorer.schemas == ("marts",) and not explorer.all_datasets
    assert set(board.dashboards) == {"hub-board", "partner-report", "data-quality",
                                     "channels-cost", "customer-experience",
                                     "service-standards"}
    assert set(explorer.dashboards) == set(board.dashboards)


# Reference tables without partner rows: a partner role may read them whole.
NO_PARTNER_ROWS = {"dim_date", "dim_queue", "dim_channel", "dim_service"}


def test_partner_roles_only_get_datasets_row_level_security_covers(manifest, sources):
    """Partner roles read every provisioned dataset; row-level security filters those with a
    partner_code column. Anything else must be a reference table without partner rows, and
    dim_customer (customers span partners) is never a dataset."""
    for rel, dataset in _of_kind(sources, "datasets").items():
        table = dataset["table_name"]
        assert table != "dim_customer", f"{rel}: dim_customer must not be exposed in Superset"
        columns = _model_columns(manifest, dataset["schema"], table)
        names = {name for name, _ in columns}
        assert "partner_code" in names or table in NO_PARTNER_ROWS, (
            f"{rel}: {table} has no partner_code column, so row-level security cannot cover it")


def test_rls_clause_keeps_only_the_partners_rows(tmp_path, partner_codes):
    code = "eastbrook"
    assert security.rls_clause(code) == "partner_code = 'eastbrook'"
    con = duckdb.connect(str(tmp_path / "rls.duckdb"))
    try:
        con.execute("create table t as select unnest(?) as partner_code", [partner_codes])
        kept = con.execute(f"select partner_code from t where {security.rls_clause(code)}"
                           ).fetchall()
    finally:
        con.close()
    assert kept == [(code,)]
    for bad in ("x' or '1'='1", "East", "a b", "north-moor"):
        with pytest.raises(ValueError, match="is not"):
            security.rls_clause(bad)


def test_demo_users_one_per_role(partner_codes):
    users = {u.username: u for u in security.demo_users(partner_codes)}
    roles = {s.name for s in security.role_specs(partner_codes)}
    assert users["board"].role == security.BOARD_ROLE
    assert users["explorer"].role == security.EXPLORER_ROLE
    for code in partner_codes:
        assert users[f"partner_{code}"].role == f"Partner_{code}"
    assert len(users) == 2 + len(partner_codes)
    assert {u.role for u in users.values()} <= roles
    assert "admin" not in users


# --- secrets.py -----------------------------------------------------------------------------


@pytest.fixture
def superset_settings(settings, tmp_path, monkeypatch) -> SupersetSettings:
    for var in ("HUB_SUPERSET_ADMIN_PASSWORD", "HUB_DEMO_PASSWORD", "HUB_SUPERSET_HOME",
                "HUB_SUPERSET_PORT", "HUB_MODE", "HUB_BIND_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HUB_SUPERSET_HOME", str(tmp_path / "superset_home"))
    return SupersetSettings.from_env(settings)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generated_passwords_are_private_and_stable(superset_settings):
    ss = superset_settings
    assert ss.home == ss.admin_password_file.parent and ss.demo
    admin = secrets.admin_password(ss)
    demo = secrets.demo_password(ss)
    key = secrets.secret_key(ss)
    for path in (ss.admin_password_file, ss.demo_password_file, ss.secret_key_file):
        assert _mode(path) == 0o600, f"{path} is {oct(_mode(path))}"
    assert len(admin) >= 16 and len(demo) >= 16 and len(key) >= 40
    assert len({admin, demo, key}) == 3
    assert ss.admin_password_file.read_text().strip() == admin
    assert secrets.admin_password(ss) == admin
    assert secrets.demo_password(ss) == demo
    assert secrets.secret_key(ss) == key


def test_password_from_environment_wins(superset_settings, monkeypatch):
    ss = superset_settings
    generated = secrets.admin_password(ss)
    monkeypatch.setenv("HUB_SUPERSET_ADMIN_PASSWORD", "from-the-env-1")
    monkeypatch.setenv("HUB_DEMO_PASSWORD", "from-the-env-2")
    assert secrets.admin_password(ss) == "from-the-env-1"
    assert secrets.demo_password(ss) == "from-the-env-2"
    assert not ss.demo_password_file.exists(), "no file is written when the env var is set"
    assert ss.admin_password_file.read_text().strip() == generated
    monkeypatch.delenv("HUB_SUPERSET_ADMIN_PASSWORD")
    assert secrets.admin_password(ss) == generated


def test_production_mode_has_no_demo_users(settings, monkeypatch):
    monkeypatch.setenv("HUB_MODE", "production")
    assert SupersetSettings.from_env(settings).demo is False
    monkeypatch.setenv("HUB_MODE", "demo")
    assert SupersetSettings.from_env(settings).demo is True


def test_dashboard_catalog_lists_the_marts_each_dashboard_reads():
    from dagster_project.dashboards.catalog import dashboards

    found = {d.slug: d for d in dashboards(REPO_ROOT / "superset" / "assets")}
    assert set(found) == {"hub-board", "partner-report", "data-quality", "channels-cost",
                          "customer-experience", "service-standards"}
    assert found["service-standards"].tables == ("marts.kpi_scorecard",
                                                 "marts.kpi_service_standards_monthly")
    assert "marts.kpi_benchmarks" in found["hub-board"].tables
    assert "marts.kpi_telephony_weekly" in found["partner-report"].tables
    assert found["channels-cost"].tables == ("marts.kpi_contact_monthly", "marts.kpi_scorecard")
    assert found["customer-experience"].tables == ("marts.kpi_contact_monthly",
                                                   "marts.kpi_scorecard")
    assert "marts.kpi_scorecard" in found["hub-board"].tables
    assert "marts.fct_calls" in found["partner-report"].tables
    assert "marts.kpi_freshness" in found["data-quality"].tables
    assert all(t.startswith("marts.") for d in found.values() for t in d.tables)
