"""Predict-the-SQL is judged by meaning: per card, answers that must be accepted and answers that
must be rejected, graded against what SQLAlchemy really compiles, parsed by sqlglot."""

from __future__ import annotations

import pytest
import sqlglot

from course.content.model import load_modules
from course.content.quizbank import load_quiz_bank
from course.learner.progress import Progress
from course.quiz.session import QuizSession
from course.quiz.sql import postgres_functions

ACCEPTED = {
    "predict-select-where-order": [
        "SELECT documents.id, documents.title, documents.body, documents.owner_id, documents.created_at FROM documents WHERE documents.owner_id = 1 ORDER BY documents.created_at DESC",
        "select * from documents where owner_id = 1 order by created_at desc",
        "SELECT d.* FROM documents AS d WHERE d.owner_id = %(owner_id_1)s ORDER BY d.created_at DESC;",
        "select id, title, body, owner_id, created_at from documents where 1 = owner_id order by created_at desc",
        "SELECT * FROM documents d WHERE d.owner_id = $1 ORDER BY d.created_at DESC",
    ],
    "predict-update-title": [
        "UPDATE documents SET title='Q2 Report (final)' WHERE documents.id = 5",
        "update documents set title = %(title)s where id = %(id_1)s",
        "UPDATE documents SET title = ? WHERE 5 = id",
    ],
    "predict-delete-by-id": [
        "DELETE FROM documents WHERE documents.id = 5",
        "delete from documents where id = :id",
        "DELETE FROM documents AS d WHERE d.id = 5",
    ],
    "predict-join-owner": [
        "SELECT documents.title, users.email FROM documents JOIN users ON users.id = documents.owner_id",
        "SELECT d.title, u.email FROM documents AS d INNER JOIN users u ON d.owner_id = u.id",
        "select title, email from documents inner join users on documents.owner_id = users.id",
    ],
    "predict-count-user-documents": [
        "SELECT count(documents.id) AS count_1 FROM documents WHERE documents.owner_id = 1",
        "select count(id) from documents where owner_id = %s",
        "SELECT COUNT(d.id) AS n FROM documents d WHERE 1 = d.owner_id",
    ],
    "predict-insert-document": [
        "INSERT INTO documents (title, body, owner_id) VALUES ('Q2 Report', '...', 1) RETURNING documents.id",
        "insert into documents (title, body, owner_id) values (%(title)s, %(body)s, %(owner_id)s) returning id",
        "INSERT INTO documents (title, body, owner_id) VALUES ($1, $2, $3) RETURNING documents.id;",
    ],
    "predict-join-association-table": [
        "SELECT tags.name FROM tags JOIN document_tag ON tags.id = document_tag.tag_id WHERE document_tag.document_id = 5",
        "select t.name from tags t inner join document_tag dt on dt.tag_id = t.id where dt.document_id = ?",
    ],
    "predict-join-collection-row-shape": [
        "SELECT users.email, documents.title FROM users JOIN documents ON users.id = documents.owner_id",
        "select u.email, d.title from users u join documents d on d.owner_id = u.id",
    ],
    "predict-hybrid-where": [
        "SELECT documents.id, documents.title FROM documents WHERE length(documents.body) > 5000",
        "select id, title from documents where length(body) > %(length_1)s",
        "SELECT id, title FROM documents WHERE 5000 < LENGTH(body)",
    ],
    "check-predict-where-email": [
        "SELECT users.id, users.email, users.name FROM users WHERE users.email = 'ana@example.com'",
        "select * from users where email = %(email_1)s",
        "SELECT u.id, u.email, u.name FROM users u WHERE 'ana@example.com' = u.email",
        'SELECT "users"."id", "users"."email", "users"."name" FROM "users" WHERE "users"."email" = $1',  # quoted
    ],
    "check-predict-join-where": [
        "SELECT documents.title FROM documents JOIN users ON users.id = documents.owner_id WHERE users.email = 'ana@example.com'",
        "select d.title from documents d inner join users u on d.owner_id = u.id where u.email = ?",
        # a comma join, its condition in WHERE: the same rows
        "SELECT documents.title FROM documents, users WHERE users.id = documents.owner_id AND users.email = 'ana@example.com'",
        "select d.title from users u, documents d where u.email = %s and d.owner_id = u.id",
    ],
    "check-predict-where-title": [
        "SELECT tags.id, tags.name FROM tags WHERE tags.name = 'finance'",
        "select * from tags where name = %(name_1)s",
        'SELECT * FROM "tags" WHERE "name" = ?',
    ],
    "check-predict-join-user-email": [
        "SELECT users.email FROM users JOIN documents ON users.id = documents.owner_id WHERE documents.title = 'Q3 report'",
        "select u.email from users u, documents d where d.owner_id = u.id and d.title = $1",
        'SELECT "users".email FROM documents JOIN users ON documents.owner_id = users.id WHERE documents.title = ?',
    ],
}

REJECTED = {
    "predict-select-where-order": [
        "SELECT * FROM documents WHERE owner_id = 1 ORDER BY created_at",  # ascending
        "SELECT * FROM documents WHERE owner_id = 2 ORDER BY created_at DESC",  # another owner
        "SELECT id, title FROM documents WHERE owner_id = 1 ORDER BY created_at DESC",  # not every column
        "SELECT * FROM documents ORDER BY created_at DESC",  # no WHERE
    ],
    "predict-update-title": [
        "UPDATE documents SET title = 'Q2 Report' WHERE id = 5",  # another value
        "UPDATE documents SET title = ?",  # every row
        "UPDATE documents SET body = ? WHERE id = 5",  # another column
    ],
    "predict-delete-by-id": [
        "DELETE FROM documents",
        "DELETE FROM documents WHERE owner_id = 5",
        "DELETE FROM document WHERE id = 5",  # no such table
    ],
    "predict-join-owner": [
        "SELECT documents.title, users.email FROM documents LEFT JOIN users ON users.id = documents.owner_id",
        "SELECT documents.title, users.email FROM documents JOIN users ON users.id = documents.id",
        "SELECT documents.title, users.email FROM documents, users",
    ],
    "predict-count-user-documents": [
        "SELECT count(*) FROM documents",
        "SELECT count(documents.id) FROM documents WHERE owner_id = 2",
        "SELECT documents.id FROM documents WHERE owner_id = 1",
    ],
    "predict-insert-document": [
        "INSERT INTO documents (title, body, owner_id) VALUES (?, ?, ?)",  # no RETURNING
        "INSERT INTO documents (id, title, body, owner_id, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        "INSERT INTO documents (title, body, owner_id) VALUES ('Q3 Report', '...', 1) RETURNING documents.id",
    ],
    "predict-join-association-table": [
        "SELECT tags.name FROM tags JOIN document_tag ON tags.id = document_tag.document_id WHERE document_tag.document_id = 5",
        "SELECT tags.name FROM tags WHERE tags.id = 5",
    ],
    "predict-join-collection-row-shape": [
        "SELECT users.email, documents.title FROM users LEFT OUTER JOIN documents ON users.id = documents.owner_id",
        "SELECT users.email FROM users",
    ],
    "predict-hybrid-where": [
        "SELECT id, title FROM documents WHERE length(body) >= 5000",
        "SELECT * FROM documents WHERE length(body) > 5000",
        "SELECT id, title FROM documents WHERE NOT length(body) <= 5000",
    ],
    "check-predict-where-email": [
        "SELECT users.id FROM users WHERE users.email = 'ana@example.com'",
        "SELECT * FROM users WHERE email = 'bob@example.com'",
        "SELECT * FROM users WHERE email LIKE 'ana@example.com'",
    ],
    "check-predict-join-where": [
        "SELECT documents.title FROM documents JOIN users ON users.id = documents.owner_id",
        "SELECT documents.title FROM documents WHERE users.email = 'ana@example.com'",
        "SELECT documents.title FROM documents, users WHERE users.email = 'ana@example.com'",  # no join condition
        "SELECT documents.title FROM documents LEFT JOIN users ON users.id = documents.owner_id WHERE users.email = ?",
    ],
    "check-predict-where-title": [
        "SELECT * FROM tags WHERE name = 'Finance'",
        'SELECT * FROM tags WHERE "Name" = ?',  # a quoted capital is another column to Postgres
        "SELECT * FROM tags WHERE name == 'finance'",  # Python's ==
    ],
    "check-predict-join-user-email": [
        "SELECT users.email FROM users, documents WHERE documents.title = 'Q3 report'",
        "SELECT users.email FROM users JOIN documents ON users.id = documents.id WHERE documents.title = ?",
    ],
}

POSTGRES_REFUSES = {
    # sqlglot parses these; Postgres does not
    "SELECT * FROM users WHERE email == 'ana@example.com'": "==",
    "SELECT id, title FROM documents WHERE len(body) > 5000": "length()",
    "SELECT id, title FROM documents WHERE LEN(documents.body) > 5000": "length()",
    "SELECT * FROM users WHERE ifnull(name, '') = ''": "ifnull",
}

NOT_SQL = ["", "I don't know", "selec * form documents", "SELECT FROM WHERE"]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    module = load_modules()[0]
    bank = load_quiz_bank(module.quiz, {s.id for s in module.sections})
    return QuizSession(bank, Progress(tmp_path_factory.mktemp("quiz") / "p.sqlite3"), "sqlalchemy-2")


def card(session, card_id):
    return next(q for q in session.bank.questions if q.id == card_id)


def test_every_sql_card_has_a_table_of_answers(session):
    cards = {q.id for q in session.bank.questions if q.kind == "sql"}
    assert cards == set(ACCEPTED) == set(REJECTED)


@pytest.mark.parametrize(("card_id", "typed"), [(c, t) for c, answers in ACCEPTED.items() for t in answers])
def test_an_answer_that_means_the_same_is_accepted(session, card_id, typed):
    outcome = session.grade_sql(card(session, card_id), typed)
    assert outcome.correct is True, (outcome.sql.expected, outcome.sql.typed, outcome.feedback)
    assert outcome.feedback == []


@pytest.mark.parametrize(("card_id", "typed"), [(c, t) for c, answers in REJECTED.items() for t in answers])
def test_an_answer_that_means_something_else_is_rejected_with_the_difference(session, card_id, typed):
    question = card(session, card_id)
    outcome = session.grade_sql(question, typed)
    assert outcome.correct is False, outcome.sql
    if session.hides(question):  # the final check names no difference (it would hand over the answer)
        assert outcome.feedback == []
    else:
        assert outcome.feedback and all(note for note in outcome.feedback)


@pytest.mark.parametrize("typed", list(POSTGRES_REFUSES))
def test_what_postgres_refuses_is_refused_though_sqlglot_parses_it(session, typed):
    assert sqlglot.parse_one(typed, read="postgres")  # lenient: it parses
    outcome = session.grade_sql(card(session, "predict-hybrid-where"), typed)
    assert outcome.correct is False
    assert outcome.sql.problem.startswith("Postgres would refuse this")
    assert POSTGRES_REFUSES[typed] in outcome.sql.problem and outcome.feedback == [outcome.sql.problem]


def test_the_function_list_is_postgres_own():
    names = postgres_functions()
    assert {"length", "char_length", "count", "now", "lower"} <= names
    assert not {"len", "ifnull", "nvl", "datalength"} & names


@pytest.mark.parametrize("typed", NOT_SQL)
def test_what_does_not_parse_is_rejected_with_a_reason(session, typed):
    outcome = session.grade_sql(card(session, "predict-delete-by-id"), typed)
    assert outcome.correct is False
    assert outcome.feedback and outcome.sql.problem


def test_the_insert_card_prompt_asks_for_returning(session):
    question = card(session, "predict-insert-document")
    assert "RETURNING" in question.prompt and "RETURNING" in session.sql.expected(question)


def test_the_real_sql_is_shown_as_sent_and_in_the_learners_join_style_when_they_used_commas(session):
    question = card(session, "predict-join-owner")
    with_join = session.grade_sql(question, "SELECT d.title, u.email FROM documents d LEFT JOIN users u ON u.id = d.owner_id")
    assert "JOIN users ON" in with_join.sql.expected  # what SQLAlchemy sends, not a rewritten form
    with_commas = session.grade_sql(question, "SELECT documents.title, users.email FROM documents, users WHERE users.id = 1")
    assert with_commas.correct is False
    assert " JOIN " not in with_commas.sql.expected and "FROM documents, users WHERE" in with_commas.sql.expected
