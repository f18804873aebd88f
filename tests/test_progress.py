"""The build's progress line: a long pass's steps (distillation's training) draw a bar on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from compiler.progress import Progress


def test_training_steps_draw_a_bar_on_a_terminal_and_nothing_elsewhere():
    terminal = Console(file=io.StringIO(), force_terminal=True, width=100)
    with Progress(terminal) as progress:
        for done in range(1, 41):
            progress.step("distill", done, 40)
        assert str(progress._status.renderable.text) == "distill [####################] 40/40 steps"
        progress.step("distill", 10, 40)
        assert str(progress._status.renderable.text) == "distill [#####...............] 10/40 steps"
    plain = Console(file=io.StringIO(), force_terminal=False)
    with Progress(plain) as progress:
        progress.step("distill", 1, 40)  # a log file gets the pass's own line when it ends, no bar
    assert plain.file.getvalue() == ""
