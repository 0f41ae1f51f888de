"""Argument checks shared by every public function: each raises ValueError naming the bad value."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return `value` if it is one of `choices`, else raise ValueError listing them."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(map(repr, choices))}")
    return value


def check_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """Return `value` if it is an int in [minimum, maximum], else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (hasattr(value, "__index__")):
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name}={value!r} must be an integer {bound}")
    return value


def check_positive(name: str, value: Any, allow_zero: bool = False) -> float:
    """Return `value` as float if it is finite and > 0 (or >= 0), else raise ValueError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number") from None
    if not number == number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{name}={value!r} must be finite")
    if number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"{name}={value!r} must be {'>= 0' if allow_zero else '> 0'}")
    return number


def check_fraction(name: str, value: Any) -> float:
    """Return `value` if it lies in the open interval (0, 1), else raise ValueError."""
    number = check_positive(name, value)
    if number >= 1:
        raise ValueError(f"{name}={value!r} must lie strictly between 0 and 1")
    return number
