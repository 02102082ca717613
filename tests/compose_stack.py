"""Run the services of docker-compose.yml without Docker (tests/test_production.py).

Everything a service runs is read from docker-compose.yml and from the runtime stage of the
Dockerfile: its command, its environment (with compose's `${VAR}` interpolation from the
variables an `.env` file would hold), its health check, its `depends_on` conditions and its
volumes. The only differences are those of running on one machine instead of a container
network, applied by `Loopback`:
- addresses: a service's name, `0.0.0.0`, `127.0.0.1` or `localhost` with the service's
  container port become 127.0.0.1 with a free port; so do a `*_HOST` variable naming a service,
  a `*_PORT` variable or `-p`/`--port` argument holding a container port, and `0.0.0.0`;
- paths: `/app` (the image's copy of the repository) is the repository, and every volume's
  container path (`/srv/hub/...`) is a folder of the test, which a service with the volume
  `:ro` sees read-only (a bind mount in a mount namespace of its own, `namespaces`);
- hosts: each service (and a command run in it, as `docker compose exec` runs one) has a host
  name of its own, its service's name, in a UTS namespace of its own (`namespaces`), as each
  container has its own: a process that compares host names sees other services as elsewhere;
- programs: the image's PATH (`/app/.venv/bin` first) is the repository's virtual environment;
- `postgres` and `redis` are Debian's binaries (tests/local_servers.py), not the images.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dagster_project.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
IMAGE_ROOT = "/app"  # where the Dockerfile copies the repository
STOP_GRACE_SECONDS = 10  # docker compose stop's default timeout
# The port each service listens on inside its container.
CONTAINER_PORTS = {"postgres": 5432, "redis": 6379, "code": 4000, "dagster-webserver": 3000,
                   "superset": 8088}


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """Compose's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?error}`, `$$` = `$`."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = variables.get(name, "")
        if op == ":-":
            return current or arg
        if op == ":?" and not current:
            raise KeyError(f"{name}: {arg}")
        return current

    return re.sub(r"\$\$|\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def load_compose(variables: dict[str, str]) -> dict[str, Any]:
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")), variables)


def dockerfile_env() -> dict[str, str]:
    """ENV of the Dockerfile's last stage (the runtime image), `$VAR` left as written."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    last_stage = re.split(r"^FROM .*$", text, flags=re.M)[-1]
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", last_stage, flags=re.M):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def seconds(text: str | None, default: float) -> float:
    """A compose duration ("5s", "1m30s") in seconds."""
    if not text:
        return default
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text))


@dataclass
class Loopback:
    """How container addresses, paths and programs map to this machine (module docstring)."""

    ports: dict[str, int]
    volume_root: Path  # `/srv/hub/x` -> volume_root / "srv/hub/x"

    def text(self, value: str) -> str:
        for service, port in CONTAINER_PORTS.items():
            hosts = "|".join(re.escape(h) for h in (service, "0.0.0.0", "127.0.0.1", "localhost"))
            value = re.sub(rf"(?<![\w.-])(?:{hosts}):{port}(?!\d)",
                           f"127.0.0.1:{self.ports[service]}", value)
        value = re.sub(rf"(?<![\w.])({re.escape(IMAGE_ROOT)})(?=/|$|:)", str(REPO_ROOT), value)
        return re.sub(r"(?<![\w.])/srv/hub(?=/|$)", str(self.volume_root / "srv" / "hub"), value)

    def _port(self, value: str) -> str:
        by_port = {str(p): s for s, p in CONTAINER_PORTS.items()}
        return str(self.ports[by_port[value]]) if value in by_port else value

    def env_value(self, key: str, value: str) -> str:
        """A variable: `*_HOST` naming a service is 127.0.0.1, `*_PORT` a container port is
        that service's free port, other values as `text`."""
        if key.endswith("_HOST") and (value in CONTAINER_PORTS or value == "0.0.0.0"):
            return "127.0.0.1"
        if key.endswith("_PORT"):
            return self._port(value)
        return self.text(value)

    def args(self, argv: list[str]) -> list[str]:
        """Command arguments: `0.0.0.0` is 127.0.0.1, the value of `-p`/`--port` a container
        port is that service's free port, others as `text`."""
        mapped = []
        for i, arg in enumerate(argv):
            if arg == "0.0.0.0":
                mapped.append("127.0.0.1")
            elif i and argv[i - 1] in ("-p", "--port"):
                mapped.append(self._port(arg))
            else:
                mapped.append(self.text(arg))
        return mapped

    def path(self, container_path: str) -> Path:
        return Path(self.text(container_path))


@dataclass
class Service:
    """One compose service as this machine runs it."""

    name: str
    spec: dict[str, Any]
    loopback: Loopback
    image_env: dict[str, str]
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def command(self) -> list[str]:
        return list(self.spec["command"])

    @property
    def environment(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.spec.get("environment") or {}).items()}

    def process_env(self) -> dict[str, str]:
        """The image's ENV, then the service's environment, mapped to this machine."""
        base = {"HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
                "PATH": "/usr/local/bin:/usr/bin:/bin"}
        env = dict(base)
        for key, value in self.image_env.items():
            env[key] = self.loopback.env_value(key, value.replace("$PATH", base["PATH"]))
        env.update({k: self.loopback.env_value(k, v) for k, v in self.environment.items()})
        return env

    def resolve(self, argv: list[str], env: dict[str, str]) -> list[str]:
        program = shutil.which(argv[0], path=env["PATH"])
        assert program, f"{self.name}: {argv[0]} is not on the image's PATH ({env['PATH']})"
        return [program, *self.loopback.args(argv)[1:]]

    def in_container(self, argv: list[str]) -> list[str]:
        """The resolved `argv` as it runs in the service's container: its host name, its `:ro`
        volumes."""
        return [*namespaces(self.read_only_folders(), self.name), *argv]

    def read_only_folders(self) -> list[Path]:
        """The folders of the service's volumes mounted `:ro`."""
        return [self.loopback.path(mount.split(":")[1])
                for mount in self.spec.get("volumes", []) if mount.split(":")[2:] == ["ro"]]

    def start(self, logs: Path, extra_args: tuple[str, ...] = (),
              extra_env: dict[str, str] | None = None) -> None:
        self.env = {**self.process_env(), **(extra_env or {})}
        self.argv = [*self.resolve(self.command, self.env), *extra_args]
        self.log = logs / f"{self.name}.log"
        with self.log.open("a", encoding="utf-8") as out:
            self.proc = subprocess.Popen(
                self.in_container(self.argv), env=self.env,
                cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_container_signals)

    def run_once(self, logs: Path, timeout: float) -> int:
        """A one-shot service (`init`): start it and wait until it exits."""
        self.start(logs)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout:.0f}s:\n"
                                 f"{self.log_tail()}") from None

    def healthcheck(self) -> bool:
        test = self.spec["healthcheck"]["test"]
        env = self.env or self.process_env()
        if test[0] == "CMD-SHELL":
            argv = ["sh", "-c", self.loopback.text(test[1])]
        else:
            argv = self.resolve(test[1:], env)
        timeout = seconds(self.spec["healthcheck"].get("timeout"), 30)
        try:
            return subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True,
                                  timeout=timeout, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def health_deadline(self) -> float:
        """As long as compose would wait before calling the service unhealthy (and more)."""
        check = self.spec["healthcheck"]
        return 2 * (seconds(check.get("start_period"), 0)
                    + seconds(check.get("interval"), 30) * int(check.get("retries", 3)))

    def listening(self) -> bool:
        """The service's port accepts a connection."""
        with socket.socket() as sock:
            sock.settimeout(2)
            return sock.connect_ex(("127.0.0.1", self.loopback.ports[self.name])) == 0

    def wait_healthy(self) -> None:
        """Until its health check passes. A service with a port is first awaited until the port
        accepts a connection: some checks are programs that take a second or two of CPU each
        (Dagster's `grpc-health-check` imports Dagster), which, run back to back while the
        service starts, would take that CPU from the service itself. The check itself must
        still pass."""
        deadline = time.monotonic() + self.health_deadline()
        if self.name in self.loopback.ports:
            wait_for(self.listening, deadline - time.monotonic(), f"{self.name} listening",
                     self.proc, self.log_tail, poll=0.2)
        wait_for(self.healthcheck, deadline - time.monotonic(), f"{self.name} healthy",
                 self.proc, self.log_tail)

    def log_tail(self, lines: int = 40) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> bool:
        """As `docker compose stop`: SIGTERM, then SIGKILL after its default grace period
        (10 s; no service sets `stop_grace_period`). False if it had to be killed."""
        if self.proc is None or self.proc.poll() is not None:
            return True
        self.terminate()
        try:
            self.proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return False
        return True


# A service's namespaces: the command runs in a UTS namespace of its own, with the service's name
# as its host name, and in a mount namespace of its own (util-linux's `unshare`; not as root, in
# a user namespace too, where the machine allows them) where each `:ro` folder is bind-mounted
# onto itself read-only; `exec` keeps the process the service's own, so its signals and process
# group are as without it. Exit status 125: the host name or a mount could not be set.
NAMESPACES = """host=$1; n=$2; shift 2
[ -z "$host" ] || hostname "$host" || exit 125
while [ "$n" -gt 0 ]; do
  mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 125
  shift; n=$((n - 1))
done
exec "$@"
"""


def namespaces(read_only: list[Path], hostname: str = "") -> list[str]:
    """The argv prefix that runs a command with the folders `read_only` mounted read-only and, if
    given, its own `hostname` (neither: no prefix)."""
    if not read_only and not hostname:
        return []
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    uts = ["--uts"] if hostname else []
    return ["unshare", *user, *uts, "--mount", "--propagation", "private", "sh", "-c",
            NAMESPACES, "sh", hostname, str(len(read_only)), *map(str, read_only)]


def mounted_read_only(pid: int, folder: Path) -> bool:
    """Whether process `pid` sees `folder` as a read-only mount point (its mountinfo)."""
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(folder):
            return "ro" in fields[5].split(",")
    return False


def _container_signals() -> None:
    """In the service's process before its command runs: the signal dispositions a container's
    first process starts with. A pytest started as a background job of a script ignores
    SIGINT and SIGQUIT, and its children would too; Dagster's processes take SIGTERM's handler
    from SIGINT's, so they would then ignore `docker compose stop`'s SIGTERM and be killed
    after the grace period (seen in every suite run started that way, 4 December 2026)."""
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


def wait_for(condition: Callable[[], Any], timeout: float, what: str,
             proc: subprocess.Popen | None = None, tail: Callable[[], str] | None = None,
             poll: float = 0.5) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds or as
    soon as `proc` (the process it waits on) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"waiting for {what}: the process exited ({proc.returncode})"
                                 f"\n{tail() if tail else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waiting for {what}: not after {timeout:.0f}s"
                                 f"\n{tail() if tail else ''}")
        time.sleep(poll)


def start_order(services: dict[str, Any]) -> list[str]:
    """Services in an order where each comes after everything it depends on."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"depends_on cycle: {path}"
        if name in order:
            return
        for dep in services[name].get("depends_on") or {}:
            visit(dep, (*path, name))
        order.append(name)

    for name in services:
        visit(name, ())
    return order
