"""Course content (lessons, exercises, quizzes) loaded from files into plain dataclasses.

Layout of a content root::

    lessons/<module>/module.toml          module metadata and its sections, in order
    lessons/<module>/<section-id>.md      one lesson per section
    exercises/<module>/<exercise-id>/     exercise.toml, starter/, solution/, mutants/, variants/, checks.py
    quizzes/<module>.toml                 the module's questions

Every problem is reported as :class:`ContentError` naming the file and, where known, the line.
Nothing here imports SQLAlchemy or Textual: ``course list`` stays fast.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course import locations
from course.errors import CourseError


class ContentError(CourseError):
    """Broken content: ``str()`` is ``file:line: what is wrong``."""

    def __init__(self, path: Path, message: str, line: int | None = None):
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}{':' + str(line) if line else ''}: {message}")


@dataclass
class Mutant:
    name: str
    description: str
    expect: str
    """The check that must catch this mistake."""
    diagnosis: str = ""
    """A phrase the failure message of ``expect`` must contain: it names this mistake."""


@dataclass
class Variant:
    name: str
    description: str


@dataclass
class Exercise:
    module_id: str
    id: str
    title: str
    section: str
    path: Path
    edit: list[str]
    provided: list[str]
    task: str
    hints: list[str]
    timeout: float = 10.0
    mutants: dict[str, Mutant] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    equivalent: dict[str, str] = field(default_factory=dict)
    """Generated mutants (``course validate --mutate``) that no check can kill, by id, with why."""

    @property
    def full_id(self) -> str:
        return f"{self.module_id}/{self.id}"

    @property
    def starter_dir(self) -> Path:
        return self.path / "starter"

    @property
    def solution_dir(self) -> Path:
        return self.path / "solution"

    @property
    def checks_file(self) -> Path:
        return self.path / "checks.py"

    @property
    def helpers_file(self) -> Path:
        """The module's shared check helpers (``checker.authoring.shared``), if it has them."""
        return self.path.parent / "_shared" / "helpers.py"

    @property
    def files(self) -> list[str]:
        return self.provided + self.edit

    @property
    def modules(self) -> list[str]:
        """Top-level learner modules imported before the checks, provided ones first."""
        names = []
        for file in self.files:
            if "/" not in file and file.endswith(".py"):
                names.append(file.removesuffix(".py"))
        return names

    @functools.cached_property
    def fingerprint(self) -> str:
        """Of the checks, the module's helpers and the metadata as loaded: a result recorded under
        another fingerprint is marked for re-checking. Read from disk once per loaded exercise."""
        digest = hashlib.sha256()
        for path in (self.checks_file, self.path / "exercise.toml", self.helpers_file):
            if path.exists():
                digest.update(path.read_bytes())
        return digest.hexdigest()[:16]


@dataclass
class Section:
    id: str
    number: int
    title: str
    lesson: Path
    exercises: list[Exercise] = field(default_factory=list)

    @property
    def quiz_only(self) -> bool:
        return not self.exercises


@dataclass
class Module:
    id: str
    title: str
    subtitle: str
    root: Path
    sections: list[Section]
    quiz: Path
    problems: list[ContentError] = field(default_factory=list)
    """Exercises that failed to load: reported, while the rest of the module still works."""

    @property
    def exercises(self) -> list[Exercise]:
        return [exercise for section in self.sections for exercise in section.exercises]


# -- parsing helpers ---------------------------------------------------------------------------


def _read_toml(path: Path) -> tuple[dict, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ContentError(path, f"cannot read: {error.strerror}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        raise ContentError(path, f"invalid TOML: {error}", int(match.group(1)) if match else None) from None


def line_of(text: str, key: str) -> int | None:
    """The first line where ``key = `` or ``[...key...]`` appears (TOML gives no positions)."""
    pattern = re.compile(rf"^\s*(?:{re.escape(key)}\s*=|\[+[^\]]*\b{re.escape(key)}\b[^\]]*\]+)", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _check_keys(data: dict, allowed: set[str], required: set[str], path: Path, text: str, where: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise ContentError(path, f"unknown key {where}{key!r} (allowed: {', '.join(sorted(allowed))})", line_of(text, key))
    for key in sorted(required):
        if key not in data:
            raise ContentError(path, f"missing required key {where}{key!r}")


def _typed(value, kind, path: Path, text: str, key: str):
    if not isinstance(value, kind) or (kind is list and not all(isinstance(v, str) for v in value)):
        name = "a list of strings" if kind is list else kind.__name__
        raise ContentError(path, f"{key!r} must be {name}", line_of(text, key))
    return value


def _number(value, path: Path, text: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ContentError(path, f"{key!r} must be a positive number", line_of(text, key))
    return value


# -- loading -----------------------------------------------------------------------------------

EXERCISE_KEYS = {
    "id",
    "title",
    "section",
    "edit",
    "provided",
    "task",
    "hints",
    "timeout",
    "mutants",
    "variants",
    "equivalent",
    "weights",
    "visibility",  # [visibility]: per check, read by the Gradescope export (course.grading.gradescope)
}
MODULE_KEYS = {"id", "title", "subtitle", "sections", "gate"}  # [gate]: read by course.quiz.gate
SECTION_KEYS = {"id", "title"}


def load_exercise(path: Path, module_id: str) -> Exercise:
    meta = path / "exercise.toml"
    data, text = _read_toml(meta)
    _check_keys(data, EXERCISE_KEYS, {"id", "title", "section", "edit", "task", "hints"}, meta, text)
    if data["id"] != path.name:
        raise ContentError(meta, f"id {data['id']!r} must equal the folder name {path.name!r}", line_of(text, "id"))
    mutants = {}
    for name, entry in _typed(data.get("mutants", {}), dict, meta, text, "mutants").items():
        _check_keys(entry, {"description", "expect", "diagnosis"}, {"description", "expect"}, meta, text, f"mutants.{name}.")
        mutants[name] = Mutant(name, entry["description"], entry["expect"], entry.get("diagnosis", ""))
    variants = {}
    for name, entry in _typed(data.get("variants", {}), dict, meta, text, "variants").items():
        _check_keys(entry, {"description"}, {"description"}, meta, text, f"variants.{name}.")
        variants[name] = Variant(name, entry["description"])
    equivalent = _typed(data.get("equivalent", {}), dict, meta, text, "equivalent")
    for key, reason in equivalent.items():
        if not isinstance(reason, str) or not reason.strip():
            raise ContentError(meta, f"equivalent.{key!r} must give the reason as a string", line_of(text, "equivalent"))
    return Exercise(
        module_id=module_id,
        id=data["id"],
        title=_typed(data["title"], str, meta, text, "title"),
        section=_typed(data["section"], str, meta, text, "section"),
        path=path,
        edit=_typed(data["edit"], list, meta, text, "edit"),
        provided=_typed(data.get("provided", []), list, meta, text, "provided"),
        task=_typed(data["task"], str, meta, text, "task"),
        hints=_typed(data["hints"], list, meta, text, "hints"),
        timeout=float(_number(data.get("timeout", 10), meta, text, "timeout")),
        mutants=mutants,
        variants=variants,
        equivalent=equivalent,
    )


def load_module(root: Path, module_id: str) -> Module:
    """Load one module from a content root."""
    meta = root / "lessons" / module_id / "module.toml"
    data, text = _read_toml(meta)
    _check_keys(data, MODULE_KEYS, {"id", "title", "sections"}, meta, text)
    if data["id"] != module_id:
        raise ContentError(meta, f"id {data['id']!r} must equal the folder name {module_id!r}", line_of(text, "id"))
    sections: list[Section] = []
    for number, entry in enumerate(data["sections"], 1):
        _check_keys(entry, SECTION_KEYS, SECTION_KEYS, meta, text, "sections[].")
        lesson = meta.parent / f"{entry['id']}.md"
        sections.append(Section(entry["id"], number, entry["title"], lesson))
    by_id = {section.id: section for section in sections}
    if len(by_id) != len(sections):
        raise ContentError(meta, "two sections share an id")
    problems = []
    exercise_root = root / "exercises" / module_id
    if exercise_root.is_dir():
        for path in sorted(p for p in exercise_root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            try:
                exercise = load_exercise(path, module_id)
                if exercise.section not in by_id:
                    meta_text = (path / "exercise.toml").read_text(encoding="utf-8")
                    raise ContentError(
                        path / "exercise.toml", f"unknown section {exercise.section!r}", line_of(meta_text, "section")
                    )
            except ContentError as error:
                problems.append(error)
                continue
            by_id[exercise.section].exercises.append(exercise)
    return Module(
        id=module_id,
        title=data["title"],
        subtitle=data.get("subtitle", ""),
        root=root,
        sections=sections,
        quiz=root / "quizzes" / f"{module_id}.toml",
        problems=problems,
    )


ENTRY_POINT_GROUP = "course.content"
"""Installed packages publish content roots here: ``name = "package"``, whose folder holds
``lessons/``, ``exercises/`` and ``quizzes/``."""


def content_roots(extra: Sequence[str | Path] = ()) -> list[Path]:
    """The built-in content, then ``--content`` folders, ``COURSE_PATH``, and installed packages.

    Packages are found through their entry point without importing them.
    """
    import os
    from importlib.metadata import entry_points
    from importlib.util import find_spec

    roots = [locations.builtin_content_root()]
    roots += [Path(p).expanduser().resolve() for p in extra]
    roots += [Path(p).expanduser().resolve() for p in os.environ.get("COURSE_PATH", "").split(os.pathsep) if p]
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = find_spec(entry.value.split(":", 1)[0].split(".", 1)[0])
        if spec is not None and spec.submodule_search_locations:
            roots.append(Path(next(iter(spec.submodule_search_locations))))
    return list(dict.fromkeys(roots))


class ModuleShadowed(ContentError):
    """A module found again in a later content root: the earlier root's copy is used. Not broken
    content: ``--content`` and ``COURSE_PATH`` come before installed packages on purpose, so an
    instructor's working copy wins over the installed module of the same id."""

    shadowed = True

    def __init__(self, module: Module, used: Module):
        meta = module.root / "lessons" / module.id / "module.toml"
        super().__init__(
            meta,
            f"module {module.id!r} here is shadowed by the one in {used.root} (content roots are searched in order: "
            "the built-in course, --content, COURSE_PATH, installed packages); using that one",
        )


def load_content(roots: list[Path]) -> tuple[list[Module], list[ContentError]]:
    """Every module of every root; a broken root or module is reported, the others still load."""
    modules: list[Module] = []
    problems: list[ContentError] = []
    for root in roots:
        lessons = root / "lessons"
        if not lessons.is_dir():
            problems.append(ContentError(root, "not a content root: it has no lessons/ folder"))
            continue
        for module_dir in sorted(p for p in lessons.iterdir() if (p / "module.toml").is_file()):
            try:
                module = load_module(root, module_dir.name)
            except ContentError as error:
                problems.append(error)
                continue
            first = next((existing for existing in modules if existing.id == module.id), None)
            if first is not None:
                problems.append(ModuleShadowed(module, first))
                continue
            modules.append(module)
    return modules, problems


def load_modules(roots: list[Path] | None = None) -> list[Module]:
    """The modules of ``roots`` (default: the built-in content); raises on the first broken module."""
    modules, problems = load_content(roots or [locations.builtin_content_root()])
    if problems:
        raise problems[0]
    return modules


class ExerciseNotFound(CourseError, LookupError):
    """``str()`` is one line: what was asked, and what would have matched."""


def find_exercise(modules: list[Module], query: str) -> Exercise | Section:
    """Resolve a full id or any unique short form (``05-relationships``, ``05``, ``relationships``),
    alone or after its module's id (``pg-indexes/03``) when several modules are installed.

    Returns the :class:`Section` for a quiz-only section (01, 14), which has no exercise to check.
    A short id several modules share is ambiguous: the error lists the full ids to choose from.
    """
    prefix, _, short_query = query.strip().rpartition("/")
    scope = modules
    if prefix:
        scope = [m for m in modules if m.id == prefix]
        if not scope:
            known = ", ".join(m.id for m in modules) or "none"
            raise ExerciseNotFound(f"no module {prefix!r} (modules: {known}); fix: run `course list` to see the ids")
    candidates: list[tuple[str, Exercise | Section]] = []
    for module in scope:
        candidates += [(module.id, exercise) for exercise in module.exercises]
        candidates += [(module.id, section) for section in module.sections if section.quiz_only]

    exact = [c for c in candidates if c[1].id == short_query]
    if len(exact) == 1:
        return exact[0][1]
    short = exact or [c for c in candidates if _short_match(c[1].id, short_query)]
    if len(short) == 1:
        return short[0][1]
    if not short:
        where = f" in module {prefix}" if prefix else ""
        raise ExerciseNotFound(f"no exercise matches {query!r}{where}; fix: run `course list` to see the ids")
    names = ", ".join(f"{module_id}/{item.id}" for module_id, item in short)
    raise ExerciseNotFound(
        f"{query!r} matches several exercises ({names}); fix: give more of the id, e.g. {names.split(', ')[0]}"
    )


def _short_match(exercise_id: str, query: str) -> bool:
    number, _, words = exercise_id.partition("-")
    return query in (number, words) or exercise_id.startswith(query + "-") or query == exercise_id


def _module_of(modules: list[Module], section: Section) -> Module:
    return next(m for m in modules if section in m.sections)
