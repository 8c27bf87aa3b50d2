"""The consoles and progress bars that every command prints through."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

# No markup: messages hold user text (rule names, patterns such as "[/]x"), which Rich
# would read as its own tags; styles are given with Text instead.
out = Console(markup=False)
err = Console(stderr=True, markup=False)


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[Callable[[str, float], None] | None]:
    """A bar per phase of a long run (reading events, scoring, writing)."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description:<16}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    bar = Progress(*columns, console=err, transient=False)
    tasks: dict[str, int] = {}

    def report(phase: str, percent: float) -> None:
        if not tasks:
            bar.start()  # at the first phase: a run that fails before shows no empty bar
        if phase not in tasks:
            for task in tasks.values():
                bar.update(task, completed=100)
            tasks[phase] = bar.add_task(phase, total=100)
        bar.update(tasks[phase], completed=percent)

    try:
        yield report
    finally:
        if tasks:
            bar.stop()
