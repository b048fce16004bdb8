"""What execute() tells an observer about each step, so a run can be followed by a program (`--output json`)
as well as read on a terminal: the engine only calls the observer, it never formats events itself."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

EventStatus = Literal["start", "finish", "skip", "failure", "plan"]


@dataclass(frozen=True)
class StepEvent:
    step: str
    status: EventStatus
    seconds: float = 0.0
    detail: str = ""
    # On failure: the command that resumes at this step.
    resume: str = ""


Observer = Callable[[StepEvent], None]


def ignore(event: StepEvent) -> None:
    """The observer of a run nobody follows."""


@contextlib.contextmanager
def reported(observer: Observer, step: str, summary: str, problems: list[str],
             resume: str = "devcluster down") -> Iterator[None]:
    """Events for a command that is not a list of steps (`down`): each part's start, then its finish or
    failure, judged by whether it added a problem."""
    start = time.monotonic()
    before = len(problems)
    observer(StepEvent(step, "start", 0.0, summary))
    yield
    seconds = time.monotonic() - start
    if len(problems) > before:
        observer(StepEvent(step, "failure", seconds, "; ".join(problems[before:]), resume))
    else:
        observer(StepEvent(step, "finish", seconds, summary))
