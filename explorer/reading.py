"""Reading a student's answer to a predict-first question: each reader takes what was typed or
picked and returns it as the question's answer type, or raises ValueError saying what to give
instead ("Type the shape as whole numbers separated by commas, like `1, 32, 28, 28`")."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

YES, NO = "yes", "no"


def read_shape(response: Any) -> tuple[int, ...]:
    if isinstance(response, (tuple, list)):
        return tuple(int(v) for v in response)
    text = str(response).replace("torch.Size", "").strip()
    if text.lower() in ("scalar", "()", "([])", "[]"):  # a 0-d tensor, like h.mean()
        return ()
    numbers = re.findall(r"\d+", text)
    if not numbers or re.search(r"[^\d\s,x×()\[\]]", text):
        raise ValueError(
            "Type the shape as whole numbers separated by commas, like "
            "`1, 32, 28, 28` (or `()` for a single number)."
        )
    return tuple(int(n) for n in numbers)


def read_fraction(response: Any) -> float:
    text = str(response).strip().replace(",", ".")
    try:
        if text.endswith("%"):
            value = float(text[:-1]) / 100
        elif "/" in text:
            top, bottom = text.split("/", 1)
            value = float(top) / float(bottom)
        else:
            value = float(text)
            value = value / 100 if value > 1 else value
    except (ValueError, ZeroDivisionError):
        raise ValueError("Give a fraction like `0.4`, `2/5` or a percentage like `40%`.") from None
    if not 0 <= value <= 1 or math.isnan(value):
        raise ValueError("A fraction of the values lies between 0 and 1 (0% and 100%).")
    return value


def read_number(response: Any) -> float:
    try:
        value = float(str(response).strip().replace("−", "-"))
    except ValueError:
        raise ValueError("Type a number, like `0.7393` or `-1.06`.") from None
    if not math.isfinite(value):
        raise ValueError("Type a finite number.")
    return value


def read_class(n: int) -> Callable[[Any], int]:
    def read(response: Any) -> int:
        try:
            value = int(str(response).strip())
        except ValueError:
            raise ValueError(f"Pick a class from 0 to {n - 1}.") from None
        if not 0 <= value < n:
            raise ValueError(f"Pick a class from 0 to {n - 1}.")
        return value

    return read


def read_cell(cells: tuple[tuple[int, int], ...]) -> Callable[[Any], tuple[int, int]]:
    def read(response: Any) -> tuple[int, int]:
        numbers = (
            tuple(int(v) for v in re.findall(r"\d+", str(response)))
            if not isinstance(response, (tuple, list))
            else tuple(int(v) for v in response)
        )
        if numbers not in cells:
            raise ValueError("Pick a cell of the window, as (row, column) counted from 0.")
        return numbers  # narrowed by the `in cells` check above

    return read


def read_yes_no(response: Any) -> str:
    text = str(response).strip().lower()
    if text in ("yes", "y", "true"):
        return YES
    if text in ("no", "n", "false"):
        return NO
    raise ValueError("Answer yes or no.")


def read_choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def read(response: Any) -> str:
        text = str(response).strip()
        match = [o for o in options if o.lower() == text.lower()]
        if not match:
            raise ValueError(f"Choose one of: {', '.join(options)}.")
        return match[0]

    return read
