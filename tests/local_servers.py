"""PostgreSQL and Redis from Debian's packages (`make servers`), in place of the compose file's
`postgres` and `redis` images: the same users, passwords, init script, command options and
health checks (tests/compose_stack.py), on a loopback port, with their data in a temporary
folder. PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from dagster_project.settings import REPO_ROOT
from tests.compose_stack import Service

INITDB_DIR = "/docker-entrypoint-initdb.d"


def pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]))
    assert found, "no PostgreSQL in /usr/lib/postgresql/*/bin: run `make servers`"
    return Path(found[-1]).parent


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin")
    assert runuser, "running as root, and no runuser to start PostgreSQL as `postgres`"
    return [runuser, "-u", "postgres", "--", *argv]


def postgres_workdir() -> Path:
    """A folder the server's user owns (as root: `postgres`; pytest's tmp folders are root's)."""
    workdir = Path(tempfile.mkdtemp(prefix="hub-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    return workdir


def start_postgres(service: Service, workdir: Path, logs: Path) -> None:
    """initdb as the image's entrypoint does (POSTGRES_USER, POSTGRES_PASSWORD, password
    authentication over TCP), start the server, run the init scripts the compose file mounts
    into /docker-entrypoint-initdb.d."""
    bindir = pg_bindir()
    env = service.process_env()
    env["PATH"] = f"{bindir}:{env['PATH']}"  # as in the postgres image
    data, pwfile = workdir / "data", workdir / "pwfile"
    pwfile.write_text(env["POSTGRES_PASSWORD"] + "\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(_as_postgres([
        str(bindir / "initdb"), "-D", str(data), "-U", env["POSTGRES_USER"],
        f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
        "-E", "UTF8", "--no-sync"]), env=env, check=True, capture_output=True)
    pwfile.unlink()
    port = service.loopback.ports["postgres"]
    service.env = env
    service.argv = _as_postgres([str(bindir / "postgres"), "-D", str(data), "-p", str(port),
                                 "-c", "listen_addresses=127.0.0.1", "-k", str(workdir),
                                 # a test cluster: no fsync; its shared memory segments as
                                 # files in its data folder, removed with it (POSIX ones
                                 # were left in /dev/shm when runuser killed the server)
                                 "-c", "fsync=off", "-c", "dynamic_shared_memory_type=mmap"])
    service.log = logs / "postgres.log"
    with service.log.open("a") as out:
        service.proc = subprocess.Popen(service.argv, env=env, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
    service.wait_healthy()
    scripts = [m.split(":")[0] for m in service.spec["volumes"]
               if m.split(":")[1].startswith(INITDB_DIR)]
    assert scripts, f"postgres: nothing mounted into {INITDB_DIR}"
    for script in scripts:
        ran = subprocess.run(["sh", str(REPO_ROOT / script)], env={
            **env, "PGHOST": str(workdir), "PGPORT": str(port)}, check=False,
            capture_output=True, text=True)
        assert ran.returncode == 0, f"{script} exited {ran.returncode}:\n{ran.stderr}"


def start_redis(service: Service, workdir: Path, logs: Path) -> None:
    """The compose file's redis-server command, on a loopback port."""
    port = service.loopback.ports["redis"]
    service.start(logs, extra_args=("--port", str(port), "--bind", "127.0.0.1",
                                    "--dir", str(workdir), "--daemonize", "no"))
    service.wait_healthy()
