"""The learner's session and the one result layout, without the app (fast: no Postgres, no app):
what the app and the terminal both render."""

from __future__ import annotations

import io
import json

from rich.console import Console

from checker.results import CheckResult, ExerciseResult, Status
from course.learner.session import CodeStamp, LearnerSession, reveal
from course.render import print_summary, result_layout, summary_row


def result(exercise: str, status: str, checks: int = 3) -> ExerciseResult:
    made = [
        CheckResult(f"check-{n}", status, "" if status == "pass" else f"problem {n}", title=f"Check {n}") for n in range(checks)
    ]
    return ExerciseResult(exercise, status, 0.5, made)


def test_status_is_one_vocabulary_that_compares_equal_to_its_string():
    assert Status.PASS == "pass" and "fail" == Status.FAIL and Status("error") is Status.ERROR
    assert json.dumps({"status": Status.PASS}) == '{"status": "pass"}'
    assert [s.glyph for s in Status] == ["✓", "✗", "!"]
    assert [s.word for s in Status] == ["passed", "failing", "error"]
    checked = CheckResult("c", "fail")  # a plain string becomes the enum
    assert checked.status is Status.FAIL and not checked.passed
    roundtrip = ExerciseResult.from_json(json.loads(json.dumps(result("m/x", "pass").to_json())))
    assert roundtrip.status is Status.PASS and roundtrip.passed


def test_named_results_for_what_the_runner_makes_up():
    missing = ExerciseResult.missing_files("m/02-models", "02-models", ["models.py"])
    assert missing.status is Status.ERROR and [c.name for c in missing.checks] == [ExerciseResult.FILES]
    assert "course reset 02-models" in missing.checks[0].message
    crashed = ExerciseResult.crashed("m/x", "killed by SIGKILL", output="printed")
    assert crashed.status is Status.ERROR and crashed.checks[0].name == ExerciseResult.RUN and crashed.output == "printed"
    timed = ExerciseResult.timed_out("m/x", 10)
    assert "within 10 s" in timed.checks[0].message and timed.duration_s == 10
    assert CheckResult.not_run("c", "cancelled").status is Status.ERROR


def test_the_summary_of_check_all_shows_each_status_at_100_columns_piped():
    results = [result(f"sqlalchemy-2/{n:02d}-an-exercise-with-a-long-name", "pass" if n % 3 else "fail", 6) for n in range(2, 15)]
    for width in (100, 80):
        out = io.StringIO()
        print_summary(Console(file=out, width=width, force_terminal=False), results)
        text = out.getvalue()
        assert "┃┃" not in text, text
        for item in results:
            row = next(line for line in text.splitlines() if line.startswith(item.exercise))
            assert ("✓ passed" if item.passed else "✗ failing") in row, (width, row)
            assert max(len(line) for line in text.splitlines()) <= width


def test_one_layout_escapes_nothing_and_folds_an_error_every_check_shares():
    shared = "cannot import models.py:\nmodels.py:1: SyntaxError: invalid syntax [b]"
    failing = ExerciseResult("m/x", "error", 0.1, [CheckResult(f"c{n}", "error", shared) for n in range(4)], output="x\n" * 40)
    lines = result_layout(failing)
    text = "\n".join(line.text.plain for line in lines)
    assert text.count("SyntaxError") == 1 and "[b]" in text, text
    assert "none of its 4 checks ran" in text
    output = next(line for line in lines if line.kind == "output")
    assert output.text.plain.count("x") == 15, "the last 15 lines of what the code printed"
    assert [line.kind for line in result_layout(result("m/y", "pass"))] == ["summary", "check", "check", "check"]


def test_summary_row_names_what_to_fix():
    exercise, status, to_fix = summary_row(result("m/x", "fail", 2))
    assert (exercise.plain, status.plain, to_fix.plain) == ("m/x", "✗ failing", "check-0, check-1")


def test_the_session_records_a_check_and_says_what_follows(module, workspace):
    session = LearnerSession(module, workspace, code=CodeStamp([]))
    assert session.go_to([s.id for s in module.sections].index("02-models"))
    exercise = session.exercise
    assert exercise is not None and exercise.id == "02-models"
    failed = session.check_finished(exercise, result(exercise.full_id, "fail"))
    assert failed.toast == ("3 check(s) to fix — see Results and SQL.", "warning") and not session.can_advance()
    passed = session.check_finished(exercise, result(exercise.full_id, "pass"))
    assert passed.toast is None, "a pass says it on the Results tab, not in a pop-up over it"
    assert session.can_advance() and session.after_pass().startswith("Press enter for section 3")
    assert session.section_status(session.section) == "done"
    assert "`course check 03-engine-session`" in session.next_step(exercise, passed.result)
    assert "course hint 02-models" in session.next_step(exercise, failed.result)
    again = LearnerSession(module, workspace, code=CodeStamp([]))
    assert again.section.id == "02-models", "the position is remembered"
    recorded, note = again.shown_result(exercise)
    assert recorded is not None and recorded.passed and note.startswith("Last check")


def test_a_save_during_a_check_checks_once_more(module, workspace):
    session = LearnerSession(module, workspace, code=CodeStamp([]))
    exercise = next(e for e in module.exercises if e.id == "02-models")
    session.check_started(exercise)
    assert not session.saved(exercise), "one check at a time"
    (workspace.folder(exercise) / "models.py").write_text("# changed while checking\n", encoding="utf-8")
    assert session.check_finished(exercise, result(exercise.full_id, "fail")).again


def test_hints_say_when_all_are_shown(module, workspace):
    exercise = next(e for e in module.exercises if e.id == "02-models")
    seen = [reveal(workspace, exercise) for _ in range(len(exercise.hints) + 2)]
    assert [h.new for h in seen] == [True] * len(exercise.hints) + [False, False]
    assert seen[-1].all_shown and len(seen[-1].shown) == len(exercise.hints)


def test_the_stamp_of_the_install_sees_a_reinstall(tmp_path):
    (tmp_path / "RECORD").write_text("a\n", encoding="utf-8")
    stamp = CodeStamp([tmp_path])
    assert not stamp.changed()
    (tmp_path / "RECORD").write_text("a\nb\n", encoding="utf-8")
    assert stamp.changed()


def test_known_errors_teach_the_fix():
    from checker.tracebacks import advice

    class InvalidRequestError(Exception):
        pass

    error = InvalidRequestError(
        "The unique() method must be invoked on this Result, as it contains results that include joined eager "
        "loads against collections"
    )
    assert "needs .unique() on the result" in (advice(error) or "")
    assert advice(ValueError("something else")) is None


def test_a_refused_connection_keeps_the_drivers_reason_on_one_line():
    from course.postgres.session import connect_failure

    error = Exception(
        'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
        "\tIs the server running on that host and accepting TCP/IP connections?"
    )
    reason = connect_failure(error)
    assert reason.startswith("Connection refused") and "\t" not in reason and "\n" not in reason, reason


def test_a_commands_first_sentence_is_whole():
    from course.cli.base import first_sentence

    assert first_sentence("Grade EXERCISE (e.g. 05, relationships) or --all.\n\nMore.") == (
        "Grade EXERCISE (e.g. 05, relationships) or --all."
    )
    assert first_sentence("Do this. Then that.") == "Do this."
