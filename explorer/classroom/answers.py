"""The class's answers to one question: each read into a label the class can be grouped by,
the distribution the teacher's screen shows, and the session's answers as CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from explorer.classroom.classes import Answer, AskedQuestion
from explorer.questions import Question


def label(q: Question, given: Any) -> str:
    """An answer as the class sees it grouped: near guesses of a fraction fall together."""
    if q.kind == "shape":
        return "(" + ", ".join(map(str, given)) + ")" if given else "()"
    if q.kind == "zeros":
        return f"about {round(float(given) * 10) * 10}%"
    if q.kind == "value":
        return f"{float(given):.3g}"
    if q.kind in ("winner",) and isinstance(given, tuple):
        window = q.context.get("window")
        value = f" ({window[given[0]][given[1]]:.4f})" if window else ""
        return f"row {given[0]}, column {given[1]}{value}"
    return str(given)


def options(q: Question) -> tuple[str, ...]:
    """The choices a follower picks from, as labels (empty: the answer is typed)."""
    return tuple(label(q, o) for o in q.options)


@dataclass(frozen=True)
class Graded:
    label: str
    correct: bool
    feedback: str  # Markdown, with this step's numbers


def grade(q: Question, response: Any) -> Graded:
    """Read and grade one student's answer; ValueError (saying what to give) if unreadable.

    A picked option arrives as its label and is matched back to the option."""
    if q.options and isinstance(response, str):
        by_label = dict(zip(options(q), q.options, strict=True))
        if response in by_label:
            response = by_label[response]
    g = q.grade(response)
    return Graded(label(q, q.read(response)), g.correct, g.feedback)


@dataclass(frozen=True)
class Share:
    label: str
    count: int
    fraction: float
    correct: bool


def distribution(answers: Iterable[Answer]) -> list[Share]:
    """Who said what: the most common answer first."""
    answers = list(answers)
    counts = Counter(a.answer for a in answers)
    right = {a.answer for a in answers if a.correct}
    total = len(answers) or 1
    return [Share(text, n, n / total, text in right) for text, n in counts.most_common()]


def headline(shares: list[Share], *, revealed: bool) -> str:
    """One line for the projector: "40% think row 0, column 1"; right or wrong only once
    revealed."""
    if not shares:
        return "No answers yet."
    top = shares[0]
    line = f"{top.fraction:.0%} think {top.label}"
    if revealed:
        right = sum(s.fraction for s in shares if s.correct)
        line += f" · {right:.0%} right"
    return line


def answers_csv(questions: Iterable[AskedQuestion], answers: Mapping[int, list[Answer]]) -> str:
    """Every answer of a class session, one row each. Anonymous: a browser appears as
    "student N" (numbered within the session) unless its student gave a nickname."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        [
            "question",
            "step",
            "kind",
            "prompt",
            "right answer",
            "student",
            "answer",
            "correct",
            "changes",
            "answered at (UTC)",
        ]
    )
    numbers: dict[str, int] = {}
    for q in questions:
        for a in answers.get(q.id, []):
            n = numbers.setdefault(a.browser, len(numbers) + 1)
            w.writerow(
                [
                    q.id,
                    q.step,
                    q.kind,
                    q.prompt,
                    q.answer,
                    a.nickname or f"student {n}",
                    a.answer,
                    "yes" if a.correct else "no",
                    a.changes,
                    datetime.fromtimestamp(a.answered_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                ]
            )
    return out.getvalue()
