"""What execute() tells an observer about each step, so a run can be followed by a program (`--output json`)
as well as read on a terminal: the engine only calls the observer, it never formats events itself."""

from __future__ import annotations

from collections.abc import Callable
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
