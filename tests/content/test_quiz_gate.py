"""The module's gate (section 14, ``course.quiz.gate``): a varied pool drawn per attempt, feedback that
teaches without handing a retake its answers, completion only after recall on a later day.

Blind learners (1,000 per guessing strategy) almost never pass an attempt; a learner who only replays
what earlier attempts showed never completes the module, over weeks of retakes through the real
terminal quiz; a learner who knows the material completes it on the second day."""

from __future__ import annotations

import builtins
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from course.content.model import ContentError, load_modules
from course.content.quizbank import load_quiz_bank
from course.learner.progress import Progress
from course.quiz import gate as gates
from course.quiz import terminal
from course.quiz.session import QuizSession, attempt_passes

LEARNERS = 1000
FINAL = "14-check-yourself"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def module():
    return load_modules()[0]


@pytest.fixture(scope="module")
def bank(module):
    return load_quiz_bank(module.quiz, {s.id for s in module.sections})


def new_session(bank, tmp_path, clock=None, name="p.sqlite3", **kwargs) -> QuizSession:
    clock = clock if clock is not None else [START]
    return QuizSession(bank, Progress(tmp_path / name), "sqlalchemy-2", now=lambda: clock[0], **kwargs)


# -- the pool and the draw ------------------------------------------------------------------------


def test_the_gate_is_configured_in_module_toml(bank, module):
    config = gates.load_gate(bank, module.id)
    assert config.section == FINAL == module.sections[-1].id
    assert config.questions == 9 and config.pass_share == 0.8 and config.later_day == 1 and config.exercises is False


def test_the_pool_has_more_questions_than_an_attempt_and_variants_of_each(bank, module):
    config = gates.load_gate(bank, module.id)
    assert gates.gate_problems(bank, config) == []
    pool = gates.groups(bank, FINAL)
    assert len(pool) > config.questions
    assert all(len(variants) >= 2 for variants in pool.values()), {g: len(v) for g, v in pool.items()}
    # the check finds a weak gate: one variant per group, no question to produce
    weak = type(bank)(bank.path, [q for q in bank.questions if q.kind == "choice"][:20], bank.pass_threshold, bank.sql_setup)
    weak_config = gates.GateConfig(weak.questions[-1].section, 9)
    assert len(gates.gate_problems(weak, weak_config)) >= 2


def test_an_attempt_draws_one_variant_per_group_with_enough_to_produce(bank, tmp_path):
    session = new_session(bank, tmp_path, seed=4)
    drawn = session.draw()
    config = session.gate
    assert len(drawn) == config.questions
    assert len({q.group for q in drawn}) == len(drawn)
    assert sum(gates.produces(q) for q in drawn) >= config.needed_producing()
    # recalling every choice right still cannot pass: the produce-the-answer questions are needed
    assert (len(drawn) - config.needed_producing()) / len(drawn) < config.pass_share
    # the CLI's section 14 and the TUI's questions are the draw, never the whole pool
    assert session.select(section=FINAL) == drawn
    assert session.prepare(bank.for_section(FINAL)) == drawn


def answer_all(session: QuizSession, questions, right: bool):
    for question in questions:
        if question.kind == "choice":
            picked = question.correct if right else [c.id for c in question.choices if c.id not in question.correct][:1]
            session.record(question, session.grade_choice(question, picked, session.present(question)))
        elif question.kind == "sql":
            session.record(question, session.grade_sql(question, session.sql.expected(question) if right else "SELECT 1"))
        else:
            session.record(question, session.grade_recall(question, "good", question.answer if right else "no idea"))


def test_a_retake_draws_other_questions(bank, tmp_path):
    clock = [START]
    first = new_session(bank, tmp_path, clock, seed=1)
    answer_all(first, first.draw(), right=False)
    first.finish(FINAL)
    second = new_session(bank, tmp_path, clock, seed=1)
    before = {q.id for q in first.drawn}
    after = {q.id for q in second.draw()}
    assert not before & after  # twelve groups of two: the retake sees none of the same questions
    # the groups left out last time come back first
    left_out = set(gates.groups(bank, FINAL)) - {q.group for q in first.drawn}
    assert left_out <= {q.group for q in second.drawn}


# -- feedback ---------------------------------------------------------------------------------


def test_answers_in_the_gate_carry_no_notes_that_give_the_answer_away(bank, tmp_path):
    session = new_session(bank, tmp_path)
    for question in bank.for_section(FINAL):
        if question.kind == "choice":
            wrong = [c.id for c in question.choices if c.id not in question.correct]
            assert session.grade_choice(question, wrong).feedback == []
        elif question.kind == "sql":
            assert session.grade_sql(question, "SELECT * FROM documents").feedback == []
        else:
            assert session.grade_recall(question, "good", "").feedback == []
    # outside the gate the teaching notes stay
    practice = next(q for q in bank.questions if q.kind == "sql" and q.section != FINAL)
    assert session.grade_sql(practice, "SELECT * FROM documents").feedback


class Scripted:
    """Plays a learner at the real terminal quiz: ``answer(question, shown)`` gives the line typed;
    what the console showed is kept per attempt (the only thing a replaying learner has)."""

    def __init__(self, monkeypatch, answer):
        self.answer = answer
        self.current = None
        self.shown: list = []
        original_run, original_present = terminal.run_question, QuizSession.present

        def run_question(console, session, question, number, total):
            self.current, self.shown = question, []
            return original_run(console, session, question, number, total)

        def present(session, question):
            self.shown = original_present(session, question)
            return self.shown

        monkeypatch.setattr(terminal, "run_question", run_question)
        monkeypatch.setattr(QuizSession, "present", present)
        monkeypatch.setattr(builtins, "input", lambda: self.answer(self.current, self.shown))

    def attempt(self, session: QuizSession) -> tuple[str, bool]:
        console = Console(record=True, width=120, force_terminal=False, color_system=None)
        terminal.run_quiz(session, session.select(section=FINAL), FINAL, console)
        return " ".join(console.export_text().split()), session.progress.get("module-complete:sqlalchemy-2") is not None


def knower(bank):
    """A learner who knows every answer."""
    from course.quiz.session import SqlCards

    sql = SqlCards(bank.sql_setup)

    def answer(question, shown):
        if question.kind == "choice":
            return ",".join("abcdefghij"[[c.id for c in shown].index(i)] for i in question.correct)
        if question.kind == "recall":
            return question.answer.replace("\n", " ")
        return sql.expected(question)

    return answer


def test_a_failed_attempt_names_concepts_and_lessons_not_answers(bank, tmp_path, monkeypatch):
    session = new_session(bank, tmp_path, seed=2)
    learner = Scripted(monkeypatch, lambda q, shown: "a" if q.kind == "choice" else "SELECT * FROM documents")
    text, complete = learner.attempt(session)
    assert not complete
    assert "not passed" in text and "Concepts to review" in text
    missed = [q for q in session.drawn if not session.attempt_outcomes()[q.id].counts_as_right]
    assert missed
    for question in missed:
        assert f"{question.concept} — lesson {session.gate.titles[question.taught_in]}" in text
    for question in session.drawn:  # no correct text, real SQL or key term for the same questions
        if question.kind == "choice":
            for correct in question.correct_texts():
                assert f"Correct: {correct}" not in text
            assert " ".join(question.explanation.split())[:40] not in text
        elif question.kind == "sql":
            assert session.sql.expected(question)[:30] not in text
        else:
            assert " ".join(question.answer.split())[:40] not in text
    assert "✓ Right" not in text and "✗ Not quite" not in text


# -- completion: recall on a later day --------------------------------------------------------


def test_completion_needs_a_second_pass_on_a_later_day(bank, tmp_path, monkeypatch):
    clock = [START]
    learner = Scripted(monkeypatch, knower(bank))
    text, complete = learner.attempt(new_session(bank, tmp_path, clock))
    assert "passed" in text and not complete and "again on a later day" in text
    clock[0] = START + timedelta(hours=3)  # the same day, again: not yet
    text, complete = learner.attempt(new_session(bank, tmp_path, clock))
    assert not complete
    clock[0] = START + timedelta(days=1, minutes=5)
    text, complete = learner.attempt(new_session(bank, tmp_path, clock))
    assert complete and "Module complete!" in text


def test_the_exercises_can_be_required(bank, module, tmp_path):
    config = gates.load_gate(bank, module.id)
    strict = gates.GateConfig(FINAL, config.questions, config.pass_share, 0, True, ("sqlalchemy-2/02-models",))
    session = new_session(bank, tmp_path, gate=strict)
    answer_all(session, session.draw(), right=True)
    summary = session.finish(FINAL)
    assert not summary.completed_module and any("02-models" in line for line in summary.gate)
    session.progress.record_result("sqlalchemy-2/02-models", "pass", "test", {})
    again = new_session(bank, tmp_path, gate=strict)
    answer_all(again, again.draw(), right=True)
    assert again.finish(FINAL).completed_module


def test_a_bad_gate_table_is_a_content_error(bank, tmp_path):
    root = tmp_path / "content"
    (root / "lessons" / "m").mkdir(parents=True)
    (root / "quizzes").mkdir()
    (root / "lessons" / "m" / "module.toml").write_text(
        'id = "m"\ntitle = "M"\n[gate]\npass_share = 2\n[[sections]]\nid = "a"\ntitle = "A"\n', encoding="utf-8"
    )
    moved = type(bank)(root / "quizzes" / "m.toml", bank.questions, bank.pass_threshold, bank.sql_setup)
    with pytest.raises(ContentError, match="pass_share"):
        gates.load_gate(moved, "m")


def test_an_older_store_without_gate_state_loads(bank, tmp_path):
    session = new_session(bank, tmp_path)
    assert gates.gate_state(session.progress, "sqlalchemy-2") == {"attempts": []}
    session.progress.set("gate:sqlalchemy-2", "not json")  # a damaged value is treated as no attempts
    assert gates.gate_state(session.progress, "sqlalchemy-2") == {"attempts": []}


# -- the replaying learner ------------------------------------------------------------------


class Replayer:
    """Answers only from what earlier attempts showed: for a choice, a pick that was not reported
    missed, else one not tried yet (elimination); for SQL, any SQL line the transcript showed after
    that statement, else its last guess; for free recall, everything shown with that question and
    every concept named since."""

    def __init__(self):
        self.transcript = ""
        self.picks: dict[str, dict] = {}
        self.pending: list[tuple[str, str, str]] = []

    def answer(self, question, shown) -> str:
        memory = self.picks.setdefault(question.prompt, {"good": None, "bad": set(), "typed": ""})
        if question.kind == "choice":
            texts = [c.text for c in shown]
            pick = memory["good"] if memory["good"] in texts else next(t for t in texts if t not in memory["bad"])
            self.pending.append((question.prompt, question.concept, pick))
            return "abcdefghij"[texts.index(pick)]
        if question.kind == "sql":
            after = self.transcript.split(question.statement, 1)[-1] if question.statement in self.transcript else ""
            seen = re.findall(r"(SELECT .+?)(?= Answer saved|$)", after)  # any SQL shown after it
            typed = seen[0] if seen else memory["typed"] or "SELECT * FROM users"
        else:
            concepts = [part.split("Concepts to review", 1)[-1] for part in self.transcript.split("Final check:")[1:]]
            start = self.transcript.find(question.prompt.strip().splitlines()[0])
            shown_with_it = self.transcript[start : start + 2000] if start >= 0 else ""
            typed = " ".join([shown_with_it, *concepts]).replace("\n", " ")
        memory["typed"] = typed
        return typed

    def learn(self, text: str) -> None:
        self.transcript += text
        missed = " ".join(text.split("Concepts to review", 1)[-1].split()) if "Concepts to review" in text else ""
        for prompt, concept, pick in self.pending:  # a missed question is recognised by its concept
            memory = self.picks[prompt]
            if concept in missed:
                memory["bad"].add(pick)
            else:
                memory["good"] = pick
        self.pending = []


def test_a_learner_who_only_replays_earlier_attempts_never_completes(bank, tmp_path, monkeypatch):
    clock = [START]
    replayer = Replayer()
    learner = Scripted(monkeypatch, replayer.answer)
    passed, scores = 0, []
    for day in range(30):  # a month of retakes, two a day
        for hour in (9, 18):
            clock[0] = START + timedelta(days=day, hours=hour - 9)
            session = new_session(bank, tmp_path, clock, seed=day * 2 + hour)
            text, complete = learner.attempt(session)
            replayer.learn(text)
            assert not complete, f"the replaying learner completed the module on day {day}"
            passed += "(passed;" in text
            scores.append(int(re.search(r"Final check: (\d+)/9", text).group(1)))
    assert passed == 0
    print("\nthe replaying learner's scores (of 9):", scores)
    # it does learn the choices by elimination (so the test is not trivially green): only the questions
    # that need the answer produced (SQL, key terms), never shown, keep it below the pass mark
    assert max(scores) == 9 - session.gate.needed_producing()


# -- blind learners ---------------------------------------------------------------------------


def always_a(shown, rng):
    return shown[0]


def at_random(shown, rng):
    return rng.choice(shown)


def always_longest(shown, rng):
    return max(shown, key=lambda c: len(c.text))


STRATEGIES = {"always a": always_a, "random": at_random, "always the longest": always_longest}


def blind_attempt(session: QuizSession, questions, pick, rng, *, knows_the_rest: bool = False) -> dict:
    """One learner's answers: choices by ``pick``; free recall echoes the prompt; SQL is a guess.
    ``knows_the_rest``: recall and SQL answered right (choices still blind)."""
    outcomes = {}
    for question in questions:
        if question.kind == "choice":
            shown = session.present(question)
            picked = [pick(shown, rng).id]
            if question.multiple:
                picked = [c.id for c in shown if rng.random() < 0.5] or picked
            outcomes[question.id] = session.grade_choice(question, picked, shown)
        elif question.kind == "recall":
            typed = question.answer if knows_the_rest else question.prompt
            outcomes[question.id] = session.grade_recall(question, "easy", typed)
        else:
            typed = session.sql.expected(question) if knows_the_rest else "SELECT * FROM documents"
            outcomes[question.id] = session.grade_sql(question, typed)
    return outcomes


def pass_rate(bank, tmp_path, strategy, **kwargs) -> float:
    session = new_session(bank, tmp_path)
    passed = 0
    for learner in range(LEARNERS):
        session.rng = random.Random(learner)  # each learner sees their own draw and shuffle
        session.drawn = []
        drawn = session.draw()
        rng = random.Random(10_000 + learner)
        passed += attempt_passes(drawn, blind_attempt(session, drawn, strategy, rng, **kwargs), session.gate.pass_share)
    return passed / LEARNERS


@pytest.mark.parametrize("name", STRATEGIES)
def test_blind_learners_almost_never_pass_an_attempt(bank, tmp_path, name):
    rate = pass_rate(bank, tmp_path, STRATEGIES[name])
    choices_only = pass_rate(bank, tmp_path, STRATEGIES[name], knows_the_rest=True)
    print(
        f"\n{name}: {rate:.1%} of {LEARNERS} blind learners pass an attempt "
        f"({choices_only:.1%} when they answer free recall and SQL right but guess every choice)"
    )
    assert rate < 0.01


def test_a_learner_who_knows_the_answers_passes_every_variant(bank, tmp_path):
    session = new_session(bank, tmp_path, seed=1)
    outcomes = {}
    for question in bank.for_section(FINAL):
        if question.kind == "choice":
            outcomes[question.id] = session.grade_choice(question, question.correct, session.present(question))
        elif question.kind == "recall":
            outcomes[question.id] = session.grade_recall(question, "good", question.answer)
        else:
            outcomes[question.id] = session.grade_sql(question, session.sql.expected(question))
    assert [q.id for q in bank.for_section(FINAL) if not outcomes[q.id].counts_as_right] == []


def test_exercises_true_lists_the_module_exercises(bank, module, tmp_path):
    root = tmp_path / "content"
    (root / "lessons" / module.id).mkdir(parents=True)
    text = (module.root / "lessons" / module.id / "module.toml").read_text(encoding="utf-8")
    (root / "lessons" / module.id / "module.toml").write_text(
        text.replace("exercises = false", "exercises = true"), encoding="utf-8"
    )
    for exercise in module.exercises[:2]:
        (root / "exercises" / module.id / exercise.id).mkdir(parents=True)
        (root / "exercises" / module.id / exercise.id / "exercise.toml").write_text("", encoding="utf-8")
    moved = type(bank)(root / "quizzes" / f"{module.id}.toml", bank.questions, bank.pass_threshold, bank.sql_setup)
    config = gates.load_gate(moved, module.id)
    assert config.exercises and config.exercise_ids == tuple(e.full_id for e in module.exercises[:2])


def test_course_validate_reports_a_bad_gate_table(tmp_path):
    import shutil
    import subprocess
    import sys

    from course.locations import builtin_content_root

    for folder in ("lessons", "quizzes", "exercises"):
        shutil.copytree(builtin_content_root() / folder, tmp_path / folder)
    meta = tmp_path / "lessons" / "sqlalchemy-2" / "module.toml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("pass_share = 0.8", "pass_share = 3"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "course.cli", "validate", "--static", str(tmp_path)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    assert result.returncode != 0
    assert "module.toml:" in result.stdout and "[gate] pass_share must be a number in (0, 1]" in result.stdout
