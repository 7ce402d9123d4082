"""What an export carries of the project itself: the wheel of the running version and a lock of
its dependencies, so that an autograder never installs anything by the name ``course`` from a
package index (whoever registered that name there would run code as root in every image).

The wheel is built from the files that are running: the ``course`` and ``checker`` packages
and the built-in content (as the project's wheel lays it out, under ``course/_content``), with
the installed distribution's metadata (``METADATA``, entry points, licence). That holds for an
editable install from a source tree and for an install from a wheel or sdist alike, needs no
build backend and no network, and is exactly the code the export was tested with.

The dependencies are locked, not bundled: exact versions of every distribution the running
``course`` needs, as installed here (``requirements.txt``), which pip resolves from the index
by those names and versions. Bundling their wheels would make each export hundreds of MB
(embedded PostgreSQL, Textual, SQLAlchemy... for one target platform each) and be wrong for any
platform but the one downloaded for.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import re
import zipfile
from pathlib import Path

from course import __version__
from course.errors import CourseError

DISTRIBUTION = "course"
PACKAGES = ("course", "checker")
SKIP_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


class BundleError(CourseError):
    """The running distribution cannot be packed (its metadata is missing)."""


def wheel_name() -> str:
    return f"{DISTRIBUTION}-{__version__}-py3-none-any.whl"


def _distribution() -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise BundleError(
            "course is not installed as a distribution (no course-*.dist-info), so its wheel cannot be made; "
            "fix: pip install -e . in the source tree, or pass --pip-spec"
        ) from None


def _files() -> dict[str, Path]:
    """Wheel name → file on disk: the packages and the built-in content."""
    import checker
    import course
    from course.locations import builtin_content_root

    chosen: dict[str, Path] = {}
    for package in (course, checker):
        root = Path(str(package.__file__)).resolve().parent
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if (
                path.is_file()
                and not path.is_symlink()
                and not SKIP_PARTS & set(relative.parts)
                and path.suffix not in (".pyc", ".pyo")
            ):
                chosen[f"{root.name}/{relative.as_posix()}"] = path
    content = builtin_content_root()
    if content.name != "_content":  # a source tree: the content sits beside the packages
        for folder in ("lessons", "exercises", "quizzes"):
            for path in sorted((content / folder).rglob("*")):
                relative = path.relative_to(content)
                if path.is_file() and not path.is_symlink() and not SKIP_PARTS & set(relative.parts) and path.suffix != ".pyc":
                    chosen[f"course/_content/{relative.as_posix()}"] = path
    return chosen


def _info_text(dist, name: str) -> str | None:
    """A file of the installed distribution's metadata folder, as UTF-8 text (None when absent)."""
    folders = [f"{DISTRIBUTION}-{dist.version}.dist-info"]
    folders += [f.parts[0] for f in dist.files or [] if len(f.parts) == 2 and f.parts[0].endswith(".dist-info")]
    for folder in dict.fromkeys(folders):
        try:
            return Path(str(dist.locate_file(f"{folder}/{name}"))).read_text(encoding="utf-8")
        except OSError:
            continue
    return None


def wheel_bytes() -> bytes:
    """The wheel of the running version (deterministic: fixed timestamps, sorted names)."""
    dist = _distribution()
    if dist.version != __version__:
        raise BundleError(
            f"the installed metadata says course {dist.version} but {__version__} is running; fix: reinstall (pip install -e .)"
        )
    info = f"{DISTRIBUTION}-{__version__}.dist-info"
    metadata = _info_text(dist, "METADATA")
    if not metadata:
        raise BundleError("course's installed METADATA is missing; fix: reinstall course (pip install -e .)")
    extra = {
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: course export\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if entry_points := _info_text(dist, "entry_points.txt"):
        extra[f"{info}/entry_points.txt"] = entry_points.encode()
    for file in dist.files or []:
        if file.parts[:2] == (info, "licenses"):
            extra[file.as_posix()] = Path(str(file.locate())).read_bytes()
    record = io.StringIO()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:

        def put(name: str, data: bytes) -> None:
            entry = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            entry.external_attr = 0o100644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.write(f"{name},sha256={digest},{len(data)}\n")

        for name, path in _files().items():
            put(name, path.read_bytes())
        for name, data in sorted(extra.items()):
            put(name, data)
        record.write(f"{info}/RECORD,,\n")
        entry = zipfile.ZipInfo(f"{info}/RECORD", date_time=(2020, 1, 1, 0, 0, 0))
        entry.external_attr = 0o100644 << 16
        wheel.writestr(entry, record.getvalue())
    return buffer.getvalue()


def _requirement_parts(text: str) -> tuple[str, set[str], str]:
    """(name, extras, marker) of a ``Requires-Dist`` line."""
    spec, _, marker = text.partition(";")
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", spec)
    if match is None:
        return "", set(), ""
    extras = {e.strip().lower() for e in (match.group(2) or "").split(",") if e.strip()}
    return match.group(1), extras, marker.strip()


def _marker_holds(marker: str, extras: set[str]) -> bool:
    if not marker:
        return True
    try:
        from packaging.markers import Marker
    except ImportError:  # pip always carries it
        from pip._vendor.packaging.markers import Marker  # type: ignore[no-redef,assignment]
    if not extras:
        return Marker(marker).evaluate({"extra": ""})
    return any(Marker(marker).evaluate({"extra": extra}) for extra in extras)


def lock() -> str:
    """``requirements.txt``: ``name==version`` for every distribution the running course needs
    (its dependencies' closure as installed here, with the extras it asks for)."""
    pinned: dict[str, str] = {}
    todo: list[tuple[str, set[str]]] = [(DISTRIBUTION, set())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        key = (name.lower().replace("_", "-"), frozenset(extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not needed on this platform
        canonical = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if canonical != DISTRIBUTION:
            pinned[canonical] = dist.version
        for requirement in dist.requires or []:
            child, child_extras, marker = _requirement_parts(requirement)
            if child and _marker_holds(marker, extras):
                todo.append((child, child_extras))
    lines = [
        f"# The dependencies of course {__version__}, as installed where it was exported (exact versions).",
        "# course itself is installed from the wheel beside this file, never from an index.",
        *(f"{name}=={version}" for name, version in sorted(pinned.items())),
    ]
    return "\n".join(lines) + "\n"
