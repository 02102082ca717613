"""The `hub` command: generate sample data, build, serve, benchmark."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import warnings
from pathlib import Path

from dagster_project.settings import Settings
from dagster_project.stop_request import (
    interrupt_on_signals,
    raise_if_interrupted,
    signals_held,
    signals_kept_through_queries,
)


def _month(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text + "-01" if len(text) == 7 else text).replace(day=1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM, got {text!r}") from exc


def cmd_generate(args: argparse.Namespace) -> int:
    from dagster_project.generate import generate_sample
    from dagster_project.ingest.settle import settle_seconds

    settings = Settings.from_env()
    settings.ensure_dirs()
    report = generate_sample(settings.landing_dir, settings.partners_dir, months=args.months,
                             seed=args.seed, scale=args.scale, end_month=args.end_month)
    print(report.summary())
    print(f"landing folder: {settings.landing_dir}")
    settle = settle_seconds()
    if settle > 0:
        # the files are written whole (then renamed), but a build cannot know that: it waits
        # for any file modified within the settle interval (docs/architecture.md)
        print(f"these files are whole: `HUB_SETTLE_SECONDS=0 hub build` loads them now; a plain "
              f"`hub build` leaves them waiting until they are {settle:g} s old "
              f"(HUB_SETTLE_SECONDS)")
    return 0


def _print_summary(settings: Settings, published: bool) -> None:
    """The per partner and source table (dagster_project/build_summary.py): from the published
    operations file, or from the working file when the build did not publish. One connection
    serves the table and the encoding notes (raw.load_files is in both files)."""
    import duckdb

    from dagster_project import duck
    from dagster_project.build_summary import encoding_lines, format_lines, source_lines

    db = settings.operations_db if published else settings.work_db
    if not db.exists():
        return
    try:
        con = (duckdb.connect(str(db), read_only=True) if published
               else duck.connect_work(db, read_only=True, data_dir=settings.data_dir))
    except duckdb.Error:
        return
    try:
        try:
            lines = format_lines(source_lines(con))
        except duckdb.Error:  # no marts yet (a first build that failed early)
            return
        lines += encoding_lines(con)
    finally:
        con.close()
    for line in lines:
        print(line, file=sys.stderr if line.startswith("ERROR") else sys.stdout)


def cmd_build(args: argparse.Namespace) -> int:
    from dagster_project.partners import PartnerConfigError, load_partners

    settings = Settings.from_env()
    try:
        partners = load_partners(settings.partners_dir, settings.reference_dir)
    except PartnerConfigError as exc:
        print(f"hub build: partner configuration error: {exc}", file=sys.stderr)
        return 2
    print(f"hub build: {len(partners)} partners, landing {settings.landing_dir}", flush=True)
    # SIGTERM outside the build's run (waiting for the writer lock, the summary) stops it as
    # Ctrl-C does (`main`), with a word on the published files; inside the run Dagster's own
    # handler stops the run's step
    served = _identity(settings.serving_db)
    try:
        with signals_kept_through_queries():  # a signal during one of its queries too
            return _build(settings, args)
    except KeyboardInterrupt:
        left = _identity(settings.serving_db) == served
        print("hub build: interrupted (SIGTERM or Ctrl-C): " + (
            f"the published files {settings.serving_db} and {settings.operations_db} were left "
            "as they were" if left else f"{settings.serving_db} had already been published"),
            file=sys.stderr)
        return 1


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file is at `path` (publication replaces it by a rename: a new inode)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _build(settings: Settings, args: argparse.Namespace) -> int:
    from dagster_project.build import run_build
    from dagster_project.writer_lock import WriterBusy

    try:
        outcome = run_build(settings, strict=args.strict, full_refresh=args.full_refresh,
                            accept_shrink=args.accept_shrink, wait=not args.no_wait,
                            on_wait=lambda message: print(f"hub build: {message}", flush=True))
    except WriterBusy as exc:
        print(f"hub build: {exc}; not waiting (--no-wait): nothing was changed",
              file=sys.stderr)
        return 3
    if outcome.load_summary:
        print(f"load: {outcome.load_summary}")
    if outcome.plan_summary:
        print(f"dbt: {outcome.plan_summary}")
    for message in outcome.load_messages:
        print(f"  rejected: {message}", file=sys.stderr)
    for message in outcome.held:
        print(f"  {message}", file=sys.stderr)
    for message in outcome.withdrawals:
        print(f"  {message}")
    for message in outcome.waiting:
        print(f"  {message}")
    for check in outcome.check_failures:
        print(f"  check failed: {check}", file=sys.stderr)
    _print_summary(settings, published=outcome.published)
    if not outcome.success:
        for failure in outcome.failures:
            print(f"hub build FAILED at {failure}", file=sys.stderr)
        if outcome.log_tail():
            print(f"from the dbt log {outcome.log_path}:\n{outcome.log_tail()}", file=sys.stderr)
        print(f"the published files {settings.serving_db} and {settings.operations_db} were "
              "left as they were", file=sys.stderr)
        return 1
    if not outcome.published and not outcome.nothing_to_do:
        # dbt rebuilt something, yet Dagster skipped publication (e.g. an upstream asset of
        # serving/warehouse not materialized): never report that as "nothing new"
        print("hub build FAILED: dbt rebuilt tables but publication did not run; the published "
              f"files {settings.serving_db} and {settings.operations_db} were left as they were",
              file=sys.stderr)
        return 1
    if not outcome.published:
        print(f"hub build: nothing new: {settings.serving_db} and {settings.operations_db} "
              f"left untouched ({outcome.seconds:.1f}s)")
        return 0
    print(f"hub build: published {settings.serving_db} (marts) and {settings.operations_db} "
          f"in {outcome.seconds:.1f}s "
          f"(dbt log: {outcome.log_path})")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from dagster_project import published
    from dagster_project.writer_lock import WriterBusy, writer_lock

    settings = Settings.from_env()
    if not settings.serving_db.exists():
        print(f"hub rollback: no published warehouse at {settings.serving_db}", file=sys.stderr)
        return 1
    try:
        # signals held: both files are rolled back, or neither
        with writer_lock(settings.work_db, "hub rollback", wait=not args.no_wait,
                         on_wait=lambda m: print(f"hub rollback: {m}", flush=True)), \
                signals_held():
            restored, replaced = published.rollback(settings.serving_db,
                                                    settings.operations_db)
    except WriterBusy as exc:
        print(f"hub rollback: {exc}; not waiting (--no-wait)", file=sys.stderr)
        return 3
    except published.RollbackError as exc:
        print(f"hub rollback: {exc}", file=sys.stderr)
        return 1
    was = f" instead of {replaced.describe()}" if replaced else ""
    print(f"hub rollback: now serving {restored.describe()}{was}: {settings.serving_db} and "
          f"{settings.operations_db}. The working warehouse is unchanged: the next build that "
          "changes something publishes from it again (`hub build --full-refresh` at once).")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from dagster_project.doctor import report, run_checks

    settings = Settings.from_env()
    mode = "production" if _production() else "demo"
    print(f"hub doctor: data folder {settings.data_dir} (HUB_MODE={mode})")
    checks = run_checks(settings)
    print(report(checks))
    return 1 if any(c.status == "error" for c in checks) else 0


def _production() -> bool:
    from dagster_project.privacy import is_production

    return is_production()


def cmd_check(args: argparse.Namespace) -> int:
    from dagster_project.check import CheckError, format_report, run_check
    from dagster_project.partners import PartnerConfigError

    try:
        report = run_check(Settings.from_env(), args.partner, args.files)
    except PartnerConfigError as exc:
        print(f"hub check: partner configuration error: {exc}", file=sys.stderr)
        return 2
    except CheckError as exc:
        print(f"hub check {args.partner}: {exc}", file=sys.stderr)
        return 1
    print(format_report(report))
    return 1 if report.rejected_files else 0


def cmd_status(args: argparse.Namespace) -> int:
    from dagster_project.partners import load_partners
    from dagster_project.status import status_report

    settings = Settings.from_env()
    try:
        partners = load_partners(settings.partners_dir)
        print(status_report(settings.operations_db, list(partners), args.month,
                            not_expected=tuple(
            code for code, p in partners.items() if not p.expects_deliveries)))
    except FileNotFoundError as exc:
        print(f"hub status: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dagster_project.report.pack import NoDataForMonth, write_packs
    from dagster_project.report.pack_data import latest_complete_month
    from dagster_project.report.render import ReportError

    settings = Settings.from_env()
    if not settings.serving_db.exists():
        print(f"hub report: no published warehouse at {settings.serving_db}: run `hub build` "
              "first", file=sys.stderr)
        return 1
    month = args.month or latest_complete_month(settings.serving_db, dt.date.today())
    if month is None:
        print("hub report: the published warehouse has no month with figures",
              file=sys.stderr)
        return 1
    try:
        with signals_kept_through_queries():  # a signal during one of its queries too
            result = write_packs(settings.serving_db, settings.reference_dir,
                                 args.out or settings.reports_dir, month, settings.hub_name,
                                 partner=args.partner, pdf=not args.html_only)
    except KeyboardInterrupt:  # the month's packs change all at once (report/month_folder.py)
        print(f"hub report: interrupted (SIGTERM or Ctrl-C): the packs of {month:%Y-%m} were "
              "left as they were", file=sys.stderr)
        return 1
    except NoDataForMonth as exc:
        print(f"hub report: no figures for {exc} in {settings.serving_db}", file=sys.stderr)
        return 1
    except ReportError as exc:
        print(f"hub report: {exc}", file=sys.stderr)
        return 1
    print(f"hub report: {month:%B %Y}: {len(result.files)} files in {result.folder}")
    for path in result.files:
        print(f"  {path.name}")
    return 0


# What a command leaves when SIGTERM or Ctrl-C stops it, said with its exit status 130 and no
# traceback. `hub build`, `report`, `serve`, `superset` and `bench` handle it themselves (their
# own message and status); interrupted before they do (reading the partners' YAML, say), they
# have changed nothing.
_LEFT_WHEN_INTERRUPTED = {
    "generate": "the files written so far are whole and stay in the landing folder, a partial "
                "sample (no half-written file); remove them (`make clean`) to generate it whole",
    "check": "nothing was published; its throwaway warehouse under data/tmp/check is "
             "incomplete (the next check starts it again)",
    "rollback": "the served files are both as they were or both rolled back, never one of each "
                "(`hub status` says which is served)",
    "status": "it changes nothing",
    "doctor": "it changes nothing",
    "screenshots": "the images written so far stay in the folder",
}


def cmd_serve(args: argparse.Namespace) -> int:
    from dagster_project.serve import serve

    return serve(Settings.from_env())


def cmd_superset(args: argparse.Namespace) -> int:
    from dagster_project.dashboards import server
    from dagster_project.dashboards.settings import SupersetSettings

    ss = SupersetSettings.from_env(Settings.from_env())
    proc = None
    try:
        if args.provision_only:
            server.provision(ss)
            return 0
        proc = server.launch(ss)
        print(server.credentials_message(ss), flush=True)
        return proc.wait()
    except server.SupersetError as exc:
        print(f"hub superset: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if proc is not None:
            server.stop(proc)


def cmd_screenshots(args: argparse.Namespace) -> int:
    from dagster_project.dashboards import server
    from dagster_project.dashboards.browser import BrowserError
    from dagster_project.dashboards.screenshots import take_screenshots

    settings = Settings.from_env()
    try:
        return take_screenshots(settings, args.out or settings.home / "docs" / "img")
    except (server.SupersetError, BrowserError) as exc:
        print(f"hub screenshots: {exc}", file=sys.stderr)
        return 1


def cmd_bench(args: argparse.Namespace) -> int:
    from dagster_project.bench import run_bench

    if args.partners is not None and args.partners < 1:
        print("hub bench: --partners must be at least 1", file=sys.stderr)
        return 2
    if not 0 < args.crm_share <= 1:
        print("hub bench: --crm-share must be in (0, 1]", file=sys.stderr)
        return 2
    if args.crm_share != 1 and args.partners is None:
        print("hub bench: --crm-share needs --partners (it scales the clones' CRM)",
              file=sys.stderr)
        return 2
    if args.superset and not args.scenarios:
        print("hub bench: --superset needs --scenarios (it serves their warehouse)",
              file=sys.stderr)
        return 2
    # stopped (a job's timeout, a service manager: SIGTERM is Ctrl-C, `main`), the bench stops
    # its build and removes its folder (gigabytes at scale) as after Ctrl-C
    try:
        return run_bench(scale=args.scale, months=args.months, seed=args.seed, keep=args.keep,
                         partners=args.partners, scenarios=args.scenarios, out=args.out,
                         superset=args.superset, crm_share=args.crm_share,
                         workdir=args.workdir)
    except KeyboardInterrupt:
        print("hub bench: stopped" + ("" if args.keep else "; its folder is removed"),
              file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    # Dagster marks APIs it still calls itself as beta (e.g. AssetSelection.all's
    # include_sources, used inside dagster-dbt): nothing an analyst can act on
    warnings.filterwarnings("ignore", message=r".*is currently in beta")
    parser = argparse.ArgumentParser(prog="hub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write sample landing files for the fictional partners")
    gen.add_argument("--months", type=int, default=24)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--scale", type=float, default=1.0, help="multiplies call volumes")
    gen.add_argument("--end-month", type=_month, default=None,
                     help="last month generated, YYYY-MM (default: last calendar month)")
    gen.set_defaults(func=cmd_generate)

    build = sub.add_parser("build",
                           help="load + dbt build + checks + publish (non-zero on failure)")
    build.add_argument("--strict", action="store_true",
                       help="fail (and publish nothing) if any landing file is rejected or "
                            "held, or a partner-source quarantines more than "
                            "HUB_MAX_QUARANTINE_PCT (default 2) percent of its rows")
    build.add_argument("--accept-shrink", action="store_true",
                       help="apply re-deliveries with fewer than half the rows of the delivery "
                            "they replace (otherwise held, the previous delivery kept)")
    build.add_argument("--full-refresh", action="store_true",
                       help="rebuild every table from scratch instead of only the "
                            "partner-months that changed")
    build.add_argument("--no-wait", action="store_true",
                       help="exit (code 3) instead of waiting when another build (the landing "
                            "sensor, the schedule, another `hub build`) is writing the warehouse")
    build.set_defaults(func=cmd_build)

    rollback = sub.add_parser(
        "rollback", help="serve again the previous published warehouse (the last "
                         "HUB_KEEP_PUBLISHED, default 3, are kept)")
    rollback.add_argument("--no-wait", action="store_true",
                          help="exit (code 3) instead of waiting for a build in progress")
    rollback.set_defaults(func=cmd_rollback)

    doctor = sub.add_parser(
        "doctor", help="check the environment (versions, disk, memory, ports, databases, "
                       "Chromium, production secrets) and say what to fix (exit 1 if blocked)")
    doctor.set_defaults(func=cmd_doctor)

    check = sub.add_parser(
        "check", help="validate a partner's YAML and load, validate and summarise its files in "
                      "a throwaway warehouse (seconds; nothing is published)")
    check.add_argument("partner", help="the partner's code (seeds/partners/<code>.yml)")
    check.add_argument("files", nargs="*", type=Path,
                       help="check these files instead of the partner's landing folder")
    check.set_defaults(func=cmd_check)

    status = sub.add_parser("status", help="deliveries per partner, rejected files, publication")
    status.add_argument("--month", type=_month, default=None,
                        help="month to report, YYYY-MM (default: each partner's latest "
                             "delivered month)")
    status.set_defaults(func=cmd_status)

    report = sub.add_parser(
        "report", help="write the month's board packs (hub board and each partner, HTML and "
                       "PDF) from the published warehouse")
    report.add_argument("--month", type=_month, default=None,
                        help="YYYY-MM (default: the latest complete month)")
    report.add_argument("--partner", default=None, metavar="CODE",
                        help="only this partner's pack (not the hub board's)")
    report.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for the YYYY-MM/ subfolder (default: HUB_REPORTS_DIR, "
                             "data/reports)")
    report.add_argument("--html-only", action="store_true",
                        help="write the HTML only (no Chromium needed)")
    report.set_defaults(func=cmd_report)

    serve = sub.add_parser("serve", help="start Superset and the Dagster UI on 127.0.0.1")
    serve.set_defaults(func=cmd_serve)

    superset = sub.add_parser("superset",
                              help="provision Superset (assets, roles, users) and run it alone")
    superset.add_argument("--provision-only", action="store_true",
                          help="apply the provisioned assets and security, then exit")
    superset.set_defaults(func=cmd_superset)

    shots = sub.add_parser("screenshots",
                           help="PNG of every dashboard (docs/img/<slug>.png) from a private "
                                "Superset over the serving warehouse")
    shots.add_argument("--out", type=Path, default=None, help="folder (default: docs/img)")
    shots.set_defaults(func=cmd_screenshots)

    bench = sub.add_parser(
        "bench", help="time generate, load, transform and publish (or, with --scenarios, "
                      "whole `hub build` runs) against a one-statement floor per source")
    bench.add_argument("--scale", type=float, default=1.0, help="multiplies call volumes")
    bench.add_argument("--months", type=int, default=24,
                       help="months of sample data (with --scenarios: of the full build; "
                            "the new-month scenario adds one more)")
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument("--partners", type=int, default=None, metavar="N",
                       help="N partners cloned from the six fictional sample partners' formats "
                            "(varied size and staffing) instead of the repository's partners")
    bench.add_argument("--crm-share", type=float, default=1.0, metavar="F",
                       help="with --partners: scale the clones' CRM volume by F, 0 < F <= 1 "
                            "(their phone_logged_share x F; the other channels follow the "
                            "logged calls); default 1")
    bench.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                       help="put the bench's temporary folder under DIR (default: the system's "
                            "temporary folder); its peak disk use is reported")
    bench.add_argument("--scenarios", action="store_true",
                       help="time `hub build` in a subprocess with its peak memory: full build, "
                            "a new month, a rebuild with nothing new, beside their goals")
    bench.add_argument("--superset", action="store_true",
                       help="with --scenarios: then time a private Superset over the result "
                            "(provisioning, start, league-table and partner-report queries)")
    bench.add_argument("--out", type=Path, default=None, metavar="FILE",
                       help="also append the markdown report to FILE")
    bench.add_argument("--keep", action="store_true",
                       help="keep the temporary folder (data, partners) and print its path")
    bench.set_defaults(func=cmd_bench)

    args = parser.parse_args(argv)
    # SIGTERM (a service manager, a job's timeout) unwinds like Ctrl-C, in every command: child
    # servers stop too, and the command says what it left
    interrupt_on_signals()
    try:
        with signals_kept_through_queries():  # a signal during one of its queries too
            status = args.func(args)
        if args.command in _LEFT_WHEN_INTERRUPTED:
            # a signal whose KeyboardInterrupt was lost (raised within a finalizer, or dropped
            # by a library): the command did not stop where it came, but it was asked to (the
            # others handle an interrupt themselves and return their own status)
            raise_if_interrupted()
        return status
    except KeyboardInterrupt:
        left = _LEFT_WHEN_INTERRUPTED.get(args.command)
        print(f"hub {args.command}: interrupted (SIGTERM or Ctrl-C)" + (f": {left}" if left
                                                                        else ""),
              file=sys.stderr)
        return 130


def run() -> None:
    """The `hub` console script: main(), then the process ends without Python's teardown of the
    modules a command imported (dagster_project/process_exit.py)."""
    from dagster_project.process_exit import run_and_end

    run_and_end(main)


if __name__ == "__main__":
    run()
