"""Rich progress bars for long work, or nothing when disabled (tests, pipes)."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator


@contextlib.contextmanager
def bar(description: str, total: float | None,
        enabled: bool = True) -> Iterator[Callable[[float], None]]:
  """Yields `advance(n)`; draws a bar with rate and time left when enabled."""
  if not enabled:
    yield lambda n=1: None
    return
  from rich import progress  # pylint: disable=g-import-not-at-top
  columns = (progress.SpinnerColumn(), progress.TextColumn('{task.description}'),
             progress.BarColumn(), progress.MofNCompleteColumn(),
             progress.TimeElapsedColumn(), progress.TextColumn('eta'),
             progress.TimeRemainingColumn())
  with progress.Progress(*columns, transient=False) as p:
    task = p.add_task(description, total=total)
    yield lambda n=1: p.advance(task, n)
