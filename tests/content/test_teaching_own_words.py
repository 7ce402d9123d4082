"""The course says things in its own words: no run of 12 consecutive words of the source lesson
it was written from appears in the prose of a lesson or of the quiz.

The source lesson is not part of this repository. ``fixtures/source-lesson-12-word-runs.txt``
holds only a hash of each of its 12-word runs, made with :func:`run_hashes` below (words are
lower-cased letters, digits and underscores; everything else separates them). Code (fenced
blocks and `inline` spans) is left out of the comparison: the exercises ask for the same
models and statements the source shows.
"""

import hashlib
import re
import tomllib
from pathlib import Path

from course.locations import builtin_content_root

RUN = 12
FIXTURE = Path(__file__).parents[1] / "fixtures" / "source-lesson-12-word-runs.txt"
ROOT = builtin_content_root()
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`[^`\n]*`")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


def run_hash(run: list[str]) -> str:
    return hashlib.blake2b(" ".join(run).encode(), digest_size=8).hexdigest()


def run_hashes(text: str) -> set[str]:
    found = words(text)
    return {run_hash(found[i : i + RUN]) for i in range(len(found) - RUN + 1)}


def prose(text: str) -> str:
    return INLINE.sub(" ", FENCE.sub(" ", text))


def quiz_prose(path: Path) -> str:
    bank = tomllib.loads(path.read_text(encoding="utf-8"))
    parts = []
    for question in bank["question"]:
        parts += [question.get(key, "") for key in ("prompt", "answer", "explanation")]
        for choice in question.get("choices", []):
            parts += [choice["text"], choice.get("feedback", "")]
    return "\n\n".join(prose(part) for part in parts)  # each part on its own: no run spans two


def copied_runs(text: str, source: set[str]) -> list[str]:
    found = words(text)
    return [" ".join(found[i : i + RUN]) for i in range(len(found) - RUN + 1) if run_hash(found[i : i + RUN]) in source]


def source_runs() -> set[str]:
    return set(FIXTURE.read_text(encoding="utf-8").split())


def test_the_fixture_holds_the_runs_of_a_whole_lesson():
    assert len(source_runs()) > 2000


def test_the_comparison_finds_a_copied_sentence():
    sentence = "a b c d e f g h i j k l m n"
    assert copied_runs("intro " + sentence + " outro", run_hashes(sentence)) == [
        "a b c d e f g h i j k l",
        "b c d e f g h i j k l m",
        "c d e f g h i j k l m n",
    ]
    assert copied_runs("a b c d e f g h i j k x m", run_hashes(sentence)) == []


def test_no_lesson_copies_twelve_words_of_the_source():
    source = source_runs()
    copies = {}
    for lesson in sorted((ROOT / "lessons").glob("*/*.md")):
        runs = copied_runs(prose(lesson.read_text(encoding="utf-8")), source)
        if runs:
            copies[lesson.name] = runs[:3]
    assert copies == {}


def test_no_quiz_question_copies_twelve_words_of_the_source():
    source = source_runs()
    copies = {}
    for bank in sorted((ROOT / "quizzes").glob("*.toml")):
        runs = copied_runs(quiz_prose(bank), source)
        if runs:
            copies[bank.name] = runs[:3]
    assert copies == {}
