"""Checks for 13-hybrid: Document.is_long as a Python bool on instances and SQL in queries.

Judged apart from the learner's code (docs/authoring.md, "Acts and checks"). The instance side is
tried on objects built in memory, in the learner's process (no database involved), at the boundary
(5000 / 5001 characters) and with multibyte text, where counting bytes instead of characters goes
wrong: only that process can see it, so instance-bool is testimony. The class side is run as
``select(Document).where(Document.is_long)`` by an act; the judge seeds the documents with ids
drawn for this run and reads the statement from what Postgres received: it must carry a length
call in its WHERE clause, and Postgres must return exactly the long documents. The seed's
single-function hybrid (``func.length(self.body) > 5000`` for both sides) is recognised and
explained.
"""

import ast
import random
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from checker.authoring import act, check, fail, fix_or_hint, fixture, step

HERE = Path(__file__).parent
LIMIT = 5000
RANDOM = random.SystemRandom()
FIX = (
    "return `len(self.body) > 5000` from the hybrid (the instance side) and attach the SQL side with "
    "`@is_long.inplace.expression` on a classmethod `_is_long_expression(cls)` returning "
    "`func.length(cls.body) > 5000`"
)
# (label, body): instance-side cases, all judged by character count
CASES = [
    ("10 characters", "a" * 10),
    ("exactly 5000 characters", "a" * 5000),
    ("5001 characters", "a" * 5001),
    ("9000 characters", "a" * 9000),
    ("'é' × 5000 (5000 characters, 10000 bytes in UTF-8)", "é" * 5000),
    ("'é' × 5001 (5001 characters, 10002 bytes in UTF-8)", "é" * 5001),
    ("'é' × 3000 (3000 characters, 6000 bytes in UTF-8)", "é" * 3000),
    ("an empty body", ""),
]


# --------------------------------------------------------------------------- acts: in the learner's process


def _models(ctx):
    module = ctx.learner.models
    for name in ("Base", "Document"):
        if getattr(module, name, None) is None:
            fail(f"models.py must define `{name}`")
    return module


def _descriptor(ctx, models):
    """The raw ``is_long`` object in Document's class dict, found without running it."""
    for klass in models.Document.__mro__:
        if "is_long" in vars(klass):
            return vars(klass)["is_long"]
    fail(
        f"Document has no `is_long` ({ctx.learner.where('Document')}): one attribute that answers on an instance "
        "(plain Python) and also inside select(...).where(...) (an SQL expression Postgres evaluates) is a "
        "hybrid property. " + fix_or_hint(ctx.learner, HERE, "Add it to class Document in models.py as a @hybrid_property")
    )


@act
def create_tables(ctx) -> None:
    _models(ctx).Base.metadata.create_all(ctx.engine)


@act
def instance_values(ctx) -> list:
    """``doc.is_long`` for a Document built in memory with each case's body: what it is."""
    models = _models(ctx)
    _descriptor(ctx, models)
    seen = []
    for _label, body in CASES:
        with step("building Document(title=..., body=...) in memory", ctx.learner.where("Document")):
            doc = models.Document(title="A document", body=body)
        value = doc.is_long
        if isinstance(value, ClauseElement):
            seen.append({"kind": "clause", "type": type(value).__name__, "shown": str(value)[:200]})
        elif type(value) is bool:
            seen.append({"kind": "bool", "value": value})
        else:
            seen.append({"kind": "other", "type": type(value).__name__, "shown": f"{value!r:.60}"})
    return seen


@act
def query_ids(ctx, negated: bool = False) -> list[int]:
    """The ids ``select(Document).where(Document.is_long)`` returns (``~Document.is_long`` when
    ``negated``), after the checks that explain a hybrid without an SQL side."""
    models = _models(ctx)
    descriptor = _descriptor(ctx, models)
    where = ctx.learner.where("Document", "is_long")
    Document = models.Document
    if isinstance(descriptor, property):
        fail(
            "Document.is_long is a plain @property: it works on an instance, but on the class it is just a "
            "property object, so `select(Document).where(Document.is_long)` raises ArgumentError (\"SQL "
            "expression ... expected, got <property object>\"). Postgres cannot filter on Python code. Make it "
            f"a @hybrid_property with an SQL side: {FIX} ({where})"
        )
    try:
        expression = Document.is_long
    except TypeError as error:
        renamed = renamed_old_style_expression(ctx.learner)
        if renamed:
            fail(
                f"Document.is_long raised TypeError ({error}) when used on the class: it has no SQL side. You "
                f"attached one with the older `@is_long.expression` decorator, but on a function named "
                f"{renamed}. That decorator does not change is_long in place: it returns a *new* hybrid, which "
                "is then stored under the new name, and is_long keeps no expression. Either name that "
                "function `is_long` too (it then replaces the attribute), or use `@is_long.inplace.expression`, "
                f"which attaches the SQL side to is_long itself ({where})"
            )
        fail(
            f"Document.is_long raised TypeError when used on the class: {error}. With no expression attached, "
            "a hybrid runs your instance function on the *class* too — and there cls.body is a column, not a "
            "str, so len() cannot work. Add the SQL side: a classmethod decorated @is_long.inplace.expression "
            f"returning `func.length(cls.body) > 5000` ({where})"
        )
    if isinstance(expression, bool) or not (isinstance(expression, ClauseElement) or hasattr(expression, "__clause_element__")):
        fail(
            f"Document.is_long on the class gave {expression!r:.60} ({type(expression).__name__}), not an SQL "
            f"expression that Postgres can evaluate: the SQL side must return `func.length(cls.body) > 5000` "
            f"({where})"
        )
    with Session(ctx.engine) as session:
        if negated:
            return sorted(session.scalars(select(Document.id).where(~Document.is_long)).all())
        try:
            documents = session.scalars(select(Document).where(Document.is_long)).all()
        except ArgumentError as error:
            fail(
                f"select(Document).where(Document.is_long) was refused: {str(error).splitlines()[0]}. The "
                f"SQL side of the hybrid must return a boolean SQL expression: `func.length(cls.body) > "
                f"5000` ({where})"
            )
        return sorted(doc.id for doc in documents)


# --------------------------------------------------------------------------- fixtures: in the judge


@fixture
def seeded(learner, db):
    """The tables (the learner's models), one user and one document per case, inserted by the judge
    with ids drawn for this run; the ids, by case."""
    learner.run(create_tables)
    ids = RANDOM.sample(range(100, 100_000), len(CASES))
    with db.begin() as conn:
        conn.execute(text("INSERT INTO users (id, email, name) VALUES (1, 'ana@docchat.dev', 'Ana')"))
        for doc_id, (_, body) in zip(ids, CASES, strict=True):
            conn.execute(
                text("INSERT INTO documents (id, title, body, owner_id) VALUES (:id, :title, :body, 1)"),
                {"id": doc_id, "title": f"Document {doc_id}", "body": body},
            )
    return ids


# --------------------------------------------------------------------------- helpers


def where_is_long(learner) -> str:
    return learner.where("Document", "is_long")


def renamed_old_style_expression(learner) -> str | None:
    """The name of a function decorated ``@is_long.expression`` (no ``inplace``) under another name."""
    try:
        tree = learner.tree("models.py")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name != "is_long":
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Attribute)
                    and decorator.attr == "expression"
                    and isinstance(decorator.value, ast.Name)
                    and decorator.value.id == "is_long"
                ):
                    return f"{node.name} (models.py:{node.lineno})"
    return None


def seed_form_message(type_name: str, shown: str, where: str) -> str:
    return (
        f"doc.is_long returned a {type_name} — the SQL expression `{shown}` — instead of True or "
        "False. Your hybrid has one function for both sides, and it builds SQL: on an instance, "
        "func.length(self.body) does not measure anything, it wraps the string in an SQL function call, and "
        "`> 5000` wraps that in a comparison. Every caller's `if doc.is_long:` raises TypeError: Boolean "
        "value of this clause is not defined. The query side is right; the instance side needs plain Python. "
        f"Fix: {FIX} ({where})"
    )


# --------------------------------------------------------------------------- checks: in the judge


@check("instance-bool", "doc.is_long is a real bool: False at 5000 characters, True at 5001 (multibyte too)", testimony=True)
def instance_bool(learner):
    # a plain @property passes this check: query-filters explains why it is not enough
    where = where_is_long(learner)
    for (label, body), value in zip(CASES, learner.run(instance_values), strict=True):
        expected = len(body) > LIMIT
        if value["kind"] == "clause":
            fail(seed_form_message(value["type"], value["shown"], where))
        if value["kind"] != "bool":
            fail(
                f"for a body of {label}, doc.is_long returned {value['shown']} (a {value['type']}), not "
                f"True or False. On an instance the hybrid must return a bool: `len(self.body) > 5000` ({where})"
            )
        got = value["value"]
        if got == expected:
            continue
        if len(body.encode()) != len(body):
            fail(
                f"a body of {label} gave is_long = {got}. It has {len(body)} characters, so it is "
                f"{'' if expected else 'not '}long: you seem to count bytes. len() of a str counts characters "
                "(len(body.encode()) counts UTF-8 bytes, and 'é' takes 2): use `len(self.body) > 5000` "
                f"({where})"
            )
        if len(body) == LIMIT:
            fail(
                f"a body of exactly 5000 characters gave is_long = True. \"Long\" means *more than* 5000 "
                f"characters: compare with `> 5000`, not `>= 5000` ({where})"
            )
        fail(
            f"a body of {label} gave is_long = {got}; it should be {expected} (long means more than 5000 "
            f"characters: `len(self.body) > 5000`) ({where})"
        )


@check(
    "query-filters",
    "select(Document).where(Document.is_long) filters in Postgres with length() and returns the long documents",
)
def query_filters(learner, seeded, sql):
    where = where_is_long(learner)
    ids = seeded
    long_ids = {doc_id for doc_id, (_, body) in zip(ids, CASES, strict=True) if len(body) > LIMIT}
    with sql.capture() as log:
        got = learner.run(query_ids)
    statements = [s for s in log if s.shape.kind == "SELECT" and s.shape.touches("documents")]
    if not statements:
        fail("select(Document).where(Document.is_long) sent no SELECT on documents")
    statement = statements[0]
    normal = statement.shape.normal
    lowered = normal.lower()
    if " where " not in lowered or "length(" not in lowered.split(" where ", 1)[1]:
        sql.flag([statement], "expected: ... WHERE length(documents.body) > ...")
        fail(
            "the SELECT for select(Document).where(Document.is_long) has no length call in its WHERE clause "
            f"(marked below): Postgres is not measuring the bodies. The SQL side must be `func.length(cls.body) "
            f"> 5000` ({where})"
        )
    if set(got) != long_ids:
        wrong_in = sorted(set(got) - long_ids)
        wrong_out = sorted(long_ids - set(got))
        describe = {doc_id: label for doc_id, (label, _) in zip(ids, CASES, strict=True)}
        parts = []
        if wrong_in:
            parts.append("it returned the document with " + " and the one with ".join(describe.get(n, f"id {n}") for n in wrong_in))
        if wrong_out:
            parts.append("it left out the document with " + " and the one with ".join(describe[n] for n in wrong_out))
        sql.flag([statement], "returned the wrong rows")
        hint = "Long means more than 5000 characters: `func.length(cls.body) > 5000`"
        if "octet_length(" in lowered:
            hint = (
                "Your SQL side uses octet_length(), which counts *bytes* ('é' takes 2 in UTF-8), so it "
                "disagrees with len() on the instance side, which counts characters. So do length() and "
                "char_length(): "
                "`func.length(cls.body) > 5000`"
            )
        elif any(len(body) == LIMIT for doc_id, (_, body) in zip(ids, CASES, strict=True) if doc_id in wrong_in):
            hint = "Exactly 5000 characters is not long: compare with `> 5000`, not `>= 5000`"
        fail(
            f"select(Document).where(Document.is_long) returned the wrong documents (the SQL is marked "
            f"below): {'; '.join(parts)}. {hint} ({where})"
        )
    with sql.capture() as negated:
        short = learner.run(query_ids, True)
    if short != sorted(set(ids) - long_ids) or not any(s.shape.touches("documents") for s in negated):
        fail(
            f"select(Document.id).where(~Document.is_long) returned {short}: the negated expression does not pick "
            f"the short documents. The SQL side must be a boolean comparison: `func.length(cls.body) > 5000` "
            f"({where})"
        )
