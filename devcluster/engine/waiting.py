"""Polling with a live progress line and a hard timeout.

Long waits belong to the product, not to tests: every wait here has a
timeout, says what it is waiting for while it waits, and on timeout reports
the last thing it saw so the user knows what stalled. Only the outside world's
failures (API, network, OS) count as "not yet": a probe with a bug raises at
once, it is not polled until the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console

from devcluster.errors import DevclusterError, expected_errors


def wait_for(
    what: str,
    probe: Callable[[], tuple[bool, str]],
    *,
    timeout: float,
    console: Console,
    interval: float = 0.25,
    max_interval: float | None = 1.0,
    hint: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Call ``probe`` until it reports done; it returns (done, a one-line status). The pause starts at
    ``interval`` and grows by half each time up to ``max_interval`` (None: fixed): brisk at first, when most
    waits end (a rollout of fake or cached pods, a job of a second), gentle on the API server later."""
    start = clock()
    detail = ""
    with console.status(f"waiting for {what}") as status:
        while True:
            try:
                done, detail = probe()
            except DevclusterError:
                raise
            except expected_errors() as exc:  # the API or the network may blip while a cluster settles
                done, detail = False, f"{type(exc).__name__}: {exc}"
            elapsed = clock() - start
            if done:
                return detail
            if elapsed >= timeout:
                raise DevclusterError(
                    f"timed out after {int(elapsed)}s waiting for {what}; last status: {detail}",
                    hint,
                )
            status.update(f"waiting for {what} ({int(elapsed)}s/{int(timeout)}s): {detail}")
            sleep(interval)
            if max_interval is not None and interval < max_interval:  # a longer fixed pause is kept as asked
                interval = min(interval * 1.5, max_interval)
