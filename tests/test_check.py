"""`hub check PARTNER [FILE...]` (dagster_project/check.py): the YAML validated, the files
loaded and built by the real loader and dbt models in a throwaway warehouse, and a report of
rows, reasons with examples, mapped rows and monthly headline KPIs, in seconds. Timings are
printed, never asserted (docs/benchmarks.md)."""

from __future__ import annotations

import time

from dagster_project.settings import REPO_ROOT
from tests.conftest import hub, hub_env
from tests.onboarding_landing import write_onboarding_landing

PHONENOW = REPO_ROOT / "seeds" / "realdata" / "phonenow" / "telephony" / "pwc_phonenow_calls.csv"


def test_check_phonenow_prints_january_2021(tmp_path):
    started = time.perf_counter()
    proc = hub(hub_env(tmp_path / "data"), "check", "phonenow", str(PHONENOW))
    print(f"hub check phonenow: {time.perf_counter() - started:.1f}s wall")
    out = proc.stdout
    assert "configuration OK" in out
    assert "5,000 rows read: 5,000 loaded, 0 rejected" in out
    january = next(line for line in out.splitlines() if line.strip().startswith("2021-01"))
    assert january.split()[1:4] == ["1,772", "1,455", "69"], january
    assert "nothing was published" in out
    assert not (tmp_path / "data" / "serving").exists()  # nothing published, nothing served


def test_check_reports_reasons_with_examples_exclusions_and_not_measured(tmp_path):
    landing, partners = write_onboarding_landing(tmp_path)
    env = hub_env(tmp_path / "data", HUB_PARTNERS_DIR=str(partners),
                  HUB_LANDING_DIR=str(landing))
    calls = hub(env, "check", "bankline").stdout
    assert "quarantined timestamp_out_of_range: 2" in calls
    assert "quarantined bad_timestamp: 2" in calls
    assert "started_at_text='06/30/89" in calls  # the value as delivered, date part
    assert "months: 1998-01 .. 1998-02 (2)" in calls
    requests = hub(env, "check", "cityreq").stdout
    assert "excluded excluded_channel:" in requests
    assert "quarantined unknown_code: 2" in requests
    assert "channel_text='Fax'" in requests
    assert "not measured" in requests  # avoidable contact: no such field delivered


def test_check_names_the_misspelt_key_and_exits_2(tmp_path):
    _, partners = write_onboarding_landing(tmp_path)
    text = (partners / "cityreq.yml").read_text()
    (partners / "cityreq.yml").write_text(text.replace("timezone:", "timezon:"))
    proc = hub(hub_env(tmp_path / "data", HUB_PARTNERS_DIR=str(partners)), "check", "cityreq",
               check=False)
    assert proc.returncode == 2
    assert "cityreq.yml" in proc.stderr
    assert "timezon: unknown key; did you mean 'timezone'?" in proc.stderr
    build = hub(hub_env(tmp_path / "data", HUB_PARTNERS_DIR=str(partners)), "build",
                check=False)
    assert build.returncode == 2 and "did you mean 'timezone'?" in build.stderr


def test_check_of_an_unknown_partner(tmp_path):
    proc = hub(hub_env(tmp_path / "data"), "check", "nosuch", check=False)
    assert proc.returncode == 1 and "no partner 'nosuch'" in proc.stderr


def test_a_misspelt_header_in_an_expression_names_its_yaml_key(tmp_path):
    landing, partners = write_onboarding_landing(tmp_path)
    text = (partners / "bankline.yml").read_text()
    (partners / "bankline.yml").write_text(text.replace('\\"TIME\\"', '\\"TME\\"'))
    env = hub_env(tmp_path / "data", HUB_PARTNERS_DIR=str(partners),
                  HUB_LANDING_DIR=str(landing))
    proc = hub(env, "check", "bankline", check=False)
    assert proc.returncode == 1
    assert ("sources.telephony.columns.started_at: its expr does not bind against the file's "
            "header: Binder Error: Referenced column \"TME\" not found") in proc.stdout
    assert "REJECTED bankline/telephony/calls_199801.tsv" in proc.stdout
    assert "Candidate" not in proc.stdout  # the header's other names are never echoed
