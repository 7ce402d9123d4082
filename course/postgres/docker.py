"""The ``docker`` backend: a PostgreSQL container through testcontainers."""

from __future__ import annotations

import os
from pathlib import Path

from course.postgres.base import BackendError, ConnectionParams, new_password

DEFAULT_IMAGE = "postgres:16-alpine"


def docker_available(timeout: float = 1.5) -> tuple[bool, str]:
    """Whether a Docker daemon answers, and a one-line reason either way."""
    host = os.environ.get("DOCKER_HOST")
    if not host and not Path("/var/run/docker.sock").exists():
        return False, "no Docker daemon (no DOCKER_HOST, no /var/run/docker.sock)"
    try:
        import docker  # installed with testcontainers

        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as error:  # the docker client raises many kinds; any means "not usable"
        return False, f"Docker did not answer ({type(error).__name__}: {str(error).splitlines()[0][:120]})"
    return True, f"Docker answers at {host or 'unix:///var/run/docker.sock'}"


class DockerServer:
    """A disposable container; testcontainers' reaper removes it if we die."""

    backend = "docker"

    def __init__(self, image: str | None = None):
        available, reason = docker_available()
        if not available:
            raise BackendError(f"--backend docker needs Docker: {reason}; fix: start Docker, or use --backend embedded")
        try:
            from testcontainers.postgres import PostgresContainer
        except ImportError:  # newer testcontainers moved it
            from testcontainers.community.postgres import PostgresContainer  # type: ignore[no-redef]
        self.image = image or os.environ.get("COURSE_DOCKER_IMAGE", DEFAULT_IMAGE)
        password = new_password()  # random: learner code must not be able to guess the superuser's
        self._container = PostgresContainer(self.image, username="postgres", password=password, dbname="postgres")
        self._container.with_command(
            "postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        try:
            self._container.start()
        except Exception as error:
            raise BackendError(
                f"the Postgres container did not start ({error}); fix: check `docker run {self.image}` works"
            ) from None
        self.admin = ConnectionParams(
            host=self._container.get_container_host_ip(),
            port=int(self._container.get_exposed_port(5432)),
            user="postgres",
            password=password,
        )
        self.learner = self.admin

    def describe(self) -> str:
        return f"docker container {self.image} on {self.admin.host}:{self.admin.port}"

    def close(self) -> None:
        self._container.stop()
