"""Checks for 13-hybrid: Document.is_long as a Python bool on instances and SQL in queries.

The instance side is tried on objects built in memory (no database involved), at the boundary
(5000 / 5001 characters) and with multibyte text, where counting bytes instead of characters goes
wrong. The class side is run as ``select(Document).where(Document.is_long)`` on a captured engine:
the statement must carry a length call in its WHERE clause, and Postgres must return exactly the
long documents. The seed's single-function hybrid (``func.length(self.body) > 5000`` for both
sides) is recognised and explained.
"""

import ast
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from checker.authoring import check, fail, fix_or_hint, fixture, step

HERE = Path(__file__).parent
LIMIT = 5000
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
# (id, body) rows for the query side
ROWS = [(n, body) for n, (_, body) in enumerate(CASES, start=1)]
LONG_IDS = {n for n, body in ROWS if len(body) > LIMIT}


# --------------------------------------------------------------------------- fixtures


@fixture
def models(learner):
    module = learner.models
    for name in ("Base", "Document"):
        if getattr(module, name, None) is None:
            fail(f"models.py must define `{name}`")
    return module


@fixture
def descriptor(learner, models):
    """The raw ``is_long`` object in Document's class dict, found without running it."""
    for klass in models.Document.__mro__:
        if "is_long" in vars(klass):
            return vars(klass)["is_long"]
    fail(
        f"Document has no `is_long` ({learner.where('Document')}): one attribute that answers on an instance "
        "(plain Python) and also inside select(...).where(...) (an SQL expression Postgres evaluates) is a "
        "hybrid property. " + fix_or_hint(learner, HERE, "Add it to class Document in models.py as a @hybrid_property")
    )


@fixture
def seeded(models, db):
    """The tables, one user and one document per case, inserted by the grader."""
    models.Base.metadata.create_all(db)
    with db.begin() as conn:
        conn.execute(text("INSERT INTO users (id, email, name) VALUES (1, 'ana@docchat.dev', 'Ana')"))
        for doc_id, body in ROWS:
            conn.execute(
                text("INSERT INTO documents (id, title, body, owner_id) VALUES (:id, :title, :body, 1)"),
                {"id": doc_id, "title": f"Document {doc_id}", "body": body},
            )


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


def seed_form_message(value, where: str) -> str:
    return (
        f"doc.is_long returned a {type(value).__name__} — the SQL expression `{value}` — instead of True or "
        "False. Your hybrid has one function for both sides, and it builds SQL: on an instance, "
        "func.length(self.body) does not measure anything, it wraps the string in an SQL function call, and "
        "`> 5000` wraps that in a comparison. Every caller's `if doc.is_long:` raises TypeError: Boolean "
        "value of this clause is not defined. The query side is right; the instance side needs plain Python. "
        f"Fix: {FIX} ({where})"
    )


# --------------------------------------------------------------------------- checks


@check("instance-bool", "doc.is_long is a real bool: False at 5000 characters, True at 5001 (multibyte too)")
def instance_bool(learner, models, descriptor):
    # a plain @property passes this check: query-filters explains why it is not enough
    where = where_is_long(learner)
    Document = models.Document
    for label, body in CASES:
        with step("building Document(title=..., body=...) in memory", learner.where("Document")):
            doc = Document(title="A document", body=body)
        value = doc.is_long
        expected = len(body) > LIMIT
        if isinstance(value, ClauseElement):
            fail(seed_form_message(value, where))
        if type(value) is not bool:
            fail(
                f"for a body of {label}, doc.is_long returned {value!r:.60} (a {type(value).__name__}), not "
                f"True or False. On an instance the hybrid must return a bool: `len(self.body) > 5000` ({where})"
            )
        if value == expected:
            continue
        if len(body.encode()) != len(body):
            fail(
                f"a body of {label} gave is_long = {value}. It has {len(body)} characters, so it is "
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
            f"a body of {label} gave is_long = {value}; it should be {expected} (long means more than 5000 "
            f"characters: `len(self.body) > 5000`) ({where})"
        )


@check(
    "query-filters",
    "select(Document).where(Document.is_long) filters in Postgres with length() and returns the long documents",
)
def query_filters(learner, models, descriptor, seeded, captured_engine, sql):
    where = where_is_long(learner)
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
        renamed = renamed_old_style_expression(learner)
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
    if isinstance(expression, bool) or not (
        isinstance(expression, ClauseElement) or hasattr(expression, "__clause_element__")
    ):
        fail(
            f"Document.is_long on the class gave {expression!r:.60} ({type(expression).__name__}), not an SQL "
            f"expression that Postgres can evaluate: the SQL side must return `func.length(cls.body) > 5000` "
            f"({where})"
        )

    with Session(captured_engine) as session:
        with sql.capture() as log:
            try:
                documents = session.scalars(select(Document).where(Document.is_long)).all()
            except ArgumentError as error:
                fail(
                    f"select(Document).where(Document.is_long) was refused: {str(error).splitlines()[0]}. The "
                    f"SQL side of the hybrid must return a boolean SQL expression: `func.length(cls.body) > "
                    f"5000` ({where})"
                )
        got = sorted(doc.id for doc in documents)
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
    if got != sorted(LONG_IDS):
        wrong_in = sorted(set(got) - LONG_IDS)
        wrong_out = sorted(LONG_IDS - set(got))
        describe = {n: label for n, (label, _) in enumerate(CASES, start=1)}
        parts = []
        if wrong_in:
            parts.append("it returned the document with " + " and the one with ".join(describe[n] for n in wrong_in))
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
        elif any(len(ROWS[n - 1][1]) == LIMIT for n in wrong_in):
            hint = "Exactly 5000 characters is not long: compare with `> 5000`, not `>= 5000`"
        fail(
            f"select(Document).where(Document.is_long) returned the wrong documents (the SQL is marked "
            f"below): {'; '.join(parts)}. {hint} ({where})"
        )
    with Session(captured_engine) as session:
        short = sorted(session.scalars(select(Document.id).where(~Document.is_long)).all())
    if short != sorted({n for n, _ in ROWS} - LONG_IDS):
        fail(
            f"select(Document.id).where(~Document.is_long) returned {short}: the negated expression does not pick "
            f"the short documents. The SQL side must be a boolean comparison: `func.length(cls.body) > 5000` "
            f"({where})"
        )
