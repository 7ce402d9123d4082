"""``async def`` checks and fixtures are awaited: a failing async check fails, an async generator
fixture is torn down, async learner code runs (greenlet) and its statements carry the learner's
file and line. Graded for real, on the warm path, against the run's Postgres."""

from __future__ import annotations

from checker.wire import GradingJob

CHECKS = """
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from checker.authoring import check, fail, fixture

LOG = Path(__file__).parent / "teardown.log"


@fixture
async def answer():
    return 42


@fixture
async def engine(database_url):
    engine = create_async_engine(database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()
    with LOG.open("a", encoding="utf-8") as handle:
        handle.write("disposed\\n")


@check("async-passes")
async def async_passes(answer):
    assert answer == 42


@check("async-assert-fails")
async def async_assert_fails(answer):
    assert answer == 41, "an async assert that does not hold"


@check("async-fail-fails")
async def async_fail_fails():
    fail("failed after an await")


@check("async-raise-fails")
async def async_raise_fails(learner):
    await learner.code.boom()


@check("async-generator-is-refused")
async def async_generator_is_refused():
    yield
    fail("never reached")


@check("learner-async-sql", "async learner SQL, captured with its line")
async def learner_async_sql(learner, engine, sql):
    with sql.capture() as log:
        value = await learner.code.one(engine)
    assert value == 1, value
    (statement,) = [s for s in log if "SELECT 1" in s.sql]
    if statement.location != "code.py:10":
        fail(f"captured at {statement.location!r}")
"""

LEARNER = """from sqlalchemy import text


async def boom():
    raise ValueError("the learner's async code raised")


async def one(engine):
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT 1"))).scalar_one()
"""


def test_async_checks_are_awaited_and_a_failing_one_never_passes(tmp_path, grading):
    exercise = tmp_path / "content" / "exercises" / "m" / "01-async"
    exercise.mkdir(parents=True)
    (exercise / "checks.py").write_text(CHECKS, encoding="utf-8")
    learner = tmp_path / "learner"
    learner.mkdir()
    (learner / "code.py").write_text(LEARNER, encoding="utf-8")
    result = grading.grade(GradingJob("m/01-async", exercise / "checks.py", learner, ("code",), 20.0))
    by_name = {c.name: c for c in result.checks}
    assert by_name["async-passes"].status == "pass", by_name["async-passes"].message
    assert by_name["async-assert-fails"].status == "fail"
    assert "does not hold" in by_name["async-assert-fails"].message
    assert by_name["async-fail-fails"].status == "fail" and "after an await" in by_name["async-fail-fails"].message
    assert by_name["async-raise-fails"].status == "fail"
    assert "the learner's async code raised" in by_name["async-raise-fails"].message
    # a check that yields would never run its body: refused as the grader's mistake, never a pass
    refused = by_name["async-generator-is-refused"]
    assert refused.status == "error" and "yields" in refused.message, refused.message
    # async SQLAlchemy runs (greenlet), and the statement names the learner's line: the await on line 10
    assert by_name["learner-async-sql"].status == "pass", by_name["learner-async-sql"].message
    # the async generator fixture was torn down after its check
    assert (exercise / "teardown.log").read_text(encoding="utf-8") == "disposed\n"
