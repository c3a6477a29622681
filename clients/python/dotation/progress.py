"""The progress shown while waiting for a job: a tqdm bar when tqdm is installed
(``pip install dotation-client[progress]``; in a notebook, its widget), otherwise one
line on standard error rewritten in place.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, Optional, TextIO

if TYPE_CHECKING:
    from .client import JobStatus


def _tqdm_class() -> Optional[Callable[..., Any]]:
    """tqdm's bar (its notebook flavour where it applies), or ``None`` without tqdm."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    bar: Callable[..., Any] = tqdm
    return bar


class ProgressBar:
    """Shows a job's state and progress (0–100 %) as its statuses arrive."""

    def __init__(self, label: str, stream: Optional[TextIO] = None) -> None:
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._last: Optional[str] = None
        tqdm = _tqdm_class()
        self._bar = (
            tqdm(
                total=100,
                desc=label,
                unit="%",
                file=self._stream,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}{postfix}]",
            )
            if tqdm is not None
            else None
        )

    def update(self, status: JobStatus) -> None:
        """Shows a new status."""
        # 100 % only once done: a job reports all its work done before its result is
        # stored.
        percent = 100 if status.state == "done" else min(99, round(100 * status.progress))
        if self._bar is not None:
            self._bar.n = percent
            self._bar.set_postfix_str(status.state, refresh=False)
            self._bar.refresh()
            return
        line = f"{self._label}: {status.state:<9} {percent:3d}%"
        if line != self._last:
            self._stream.write("\r" + line)
            self._stream.flush()
            self._last = line

    def close(self) -> None:
        """Ends the bar (a new line after the plain one)."""
        if self._bar is not None:
            self._bar.close()
        elif self._last is not None:
            self._stream.write("\n")
            self._stream.flush()
