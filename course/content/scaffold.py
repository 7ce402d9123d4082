"""``course new-module ID``: a small but complete module that validates clean, as a starting point.

It has one section with a lesson (whose code runs), one exercise with starter, solution, hints,
a mutant, a variant and checks, and quiz questions — plus a ``pyproject.toml`` that publishes the
folder as an installable package through the ``course.content`` entry point group, and a copy of
the JSON Schemas (``schemas/``) that every TOML file names on its first line (``#:schema``), so
that an editor with Taplo (VS Code's Even Better TOML) completes and checks the keys.
"""

from __future__ import annotations

import re
from pathlib import Path

from course.errors import CourseError

MODULE_TOML = """#:schema ../../schemas/module.schema.json
id = "{id}"
title = "{title}"
subtitle = "A module made with course new-module"

# The final section's gate (docs/format.md): the module completes when the last section's quiz
# is passed and, with exercises = true, every exercise has passed too.
[gate]
exercises = true

[[sections]]
id = "01-first-model"
title = "A first model"
"""

LESSON = """# 1 · A first model

Write the lesson here, in your own words. Every ```python block runs when `course validate`
checks the module (in one namespace, with `DATABASE_URL` set to a fresh database); mark a
fragment that should not run with ```python norun.

```python
import os

from sqlalchemy import create_engine, text

engine = create_engine(os.environ["DATABASE_URL"])
with engine.connect() as conn:
    assert conn.execute(text("SELECT 1")).scalar() == 1
```

## Your exercise

Define a `Note` model in `models.py`, mapped to a `notes` table with an integer primary key
`id` and a `text` column that may not be NULL.
"""

EXERCISE_TOML = """#:schema ../../../schemas/exercise.schema.json
id = "01-first-model"
title = "A first model"
section = "01-first-model"
edit = ["models.py"]
provided = []
timeout = 20
task = \'\'\'
In `models.py`, define `Base` (a `DeclarativeBase` subclass) and `Note`, mapped to `notes`:
`id` an integer primary key, `text` a string that is NOT NULL.

The grader creates your tables in a fresh Postgres database and reads the schema back.
\'\'\'
hints = [
  "A column is NOT NULL when its annotation does not allow None.",
  "`text: Mapped[str]` is enough: a bare `Mapped[str]` is a NOT NULL text column.",
]

[mutants.nullable-text]
description = "`text: Mapped[str | None]` lets a note have no text."
expect = "text-not-null"
diagnosis = "allows NULL"

[variants.text-type]
description = "`mapped_column(Text)` spelled out."
"""

MODELS_STARTER = '''"""Define Base and Note here (see the lesson)."""

from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # TODO: a `text` column that may not be NULL
'''

MODELS_SOLUTION = '''"""The notes model."""

from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str]
'''

MODELS_MUTANT = MODELS_SOLUTION.replace("text: Mapped[str]", "text: Mapped[str | None]")

MODELS_VARIANT = MODELS_SOLUTION.replace(
    "from sqlalchemy.orm import", "from sqlalchemy import Text\nfrom sqlalchemy.orm import"
).replace("text: Mapped[str]", "text: Mapped[str] = mapped_column(Text)")

CHECKS = '''"""Checks for 01-first-model. See docs/authoring.md for the API."""

from checker.authoring import check, fail, fixture


@fixture
def tables(learner, db):
    learner.require("models", "Base", "class Base(DeclarativeBase)").metadata.create_all(db)


@check("notes-table", "there is a notes table with id and text")
def notes_table(tables, schema):
    notes = schema.table("notes")
    notes.column("id")
    notes.column("text")


@check("text-not-null", "notes.text is NOT NULL")
def text_not_null(learner, tables, schema):
    if schema.table("notes").column("text").nullable:
        fail(
            "notes.text allows NULL, so a note could have no text: annotate it Mapped[str] "
            f"without `| None` ({learner.where('Note', 'text')})"
        )


@check("text-is-a-string", "notes.text holds text")
def text_is_a_string(learner, tables, schema):
    column = schema.table("notes").column("text")
    if column.type_name not in {"VARCHAR", "TEXT", "STRING"}:
        fail(
            f"notes.text is {column.type} in Postgres, so a note's text cannot be stored: annotate it "
            f"Mapped[str] ({learner.where('Note', 'text')})"
        )
'''

QUIZ = """#:schema ../schemas/quiz.schema.json
pass_threshold = 0.8

# Give every choice a stable `id` and list ids in `correct`: answers are stored by id, and choices
# are shuffled when shown (docs/format.md). Write every choice as long and specific as the right one.
[[question]]
id = "first-model-not-null"
section = "01-first-model"
kind = "choice"
prompt = "Which annotation gives a NOT NULL column?"
correct = ["plain"]
explanation = "`Mapped[str]` is NOT NULL; `Mapped[str | None]` allows NULL."

[[question.choices]]
id = "plain"
text = "`Mapped[str]`, with no `| None`"

[[question.choices]]
id = "optional"
text = "`Mapped[str | None]`, the union with None"
feedback = "`| None` is exactly what makes the column nullable."

[[question]]
id = "first-model-why-orm"
section = "01-first-model"
kind = "recall"
prompt = "What does the ORM map a class, an instance and an attribute to?"
answer = "A table, a row, a column."
explanation = "That mapping is the whole idea of an ORM."
must_mention = [["table"], ["row"], ["column"]]
"""

PYPROJECT = """[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "course-module-{id}"
version = "0.1.0"
description = "A course module: {title}"
requires-python = ">=3.11"
dependencies = ["course"]

[project.entry-points."course.content"]
{id_py} = "course_module_{id_py}"

[tool.hatch.build.targets.wheel.force-include]
"lessons" = "course_module_{id_py}/lessons"
"exercises" = "course_module_{id_py}/exercises"
"quizzes" = "course_module_{id_py}/quizzes"
"course_module_{id_py}/__init__.py" = "course_module_{id_py}/__init__.py"
"""

ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,40}$")


class ScaffoldError(CourseError):
    """``str()`` is one line: the cause and the fix."""


def new_module(module_id: str, root: Path) -> list[Path]:
    """Write the module under ``root`` (a content root); returns the files written."""
    if not ID_PATTERN.match(module_id):
        raise ScaffoldError(f"{module_id!r} is not a module id; fix: use lower-case letters, digits and dashes, e.g. demo")
    if (root / "lessons" / module_id).exists():
        raise ScaffoldError(f"{root / 'lessons' / module_id} already exists; fix: pick another id or --path")
    id_py = module_id.replace("-", "_")
    title = module_id.replace("-", " ").title()
    exercise = root / "exercises" / module_id / "01-first-model"
    files = {
        root / "lessons" / module_id / "module.toml": MODULE_TOML.format(id=module_id, title=title),
        root / "lessons" / module_id / "01-first-model.md": LESSON,
        exercise / "exercise.toml": EXERCISE_TOML,
        exercise / "starter" / "models.py": MODELS_STARTER,
        exercise / "solution" / "models.py": MODELS_SOLUTION,
        exercise / "mutants" / "nullable-text" / "models.py": MODELS_MUTANT,
        exercise / "variants" / "text-type" / "models.py": MODELS_VARIANT,
        exercise / "checks.py": CHECKS,
        root / "quizzes" / f"{module_id}.toml": QUIZ,
        root / f"course_module_{id_py}" / "__init__.py": f'"""Course content: the {module_id} module."""\n',
    }
    if not (root / "pyproject.toml").exists():
        files[root / "pyproject.toml"] = PYPROJECT.format(id=module_id, id_py=id_py, title=title)
    schemas = Path(__file__).parent / "schemas"
    for schema in sorted(schemas.glob("*.schema.json")):  # for editors: the TOML files name them (#:schema)
        files[root / "schemas" / schema.name] = schema.read_text(encoding="utf-8")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
