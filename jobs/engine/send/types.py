"""The type variables a typed task carries: what it takes (P) and what it returns (R).

`@task` on ``def f(a: int, b: str = "") -> Report`` gives a ``Task[[int, str], Report]``: ``f.delay``
and ``f.si`` take what f takes, and ``f.delay(...).get()`` is a ``Report`` to a type checker, so a
wrong argument is found where it is written, not in the worker. R defaults to Any (PEP 696), so an
``AsyncResult(task_id)`` read by id, whose task the checker cannot know, needs no annotation. The
default exists for type checkers only: Python 3.11's TypeVar takes none, and the checkers read the
TYPE_CHECKING branch (typing_extensions comes with them, not as a dependency of jobs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ParamSpec

P = ParamSpec("P")

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    R = TypeVar("R", default=Any)
    R_co = TypeVar("R_co", covariant=True, default=Any)
else:
    from typing import TypeVar

    R = TypeVar("R")
    R_co = TypeVar("R_co", covariant=True)
