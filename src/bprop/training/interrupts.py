"""Turn Ctrl-C (SIGINT) and SIGTERM into a polite request to stop after the current batch, and hold them
off while a result that must not be lost is being written."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A second Ctrl-C this soon after the first is the same request (a double press or a bouncing key).
REPEAT_SECONDS = 1.0


def reason(signum: int) -> str:
    """``"interrupted"`` for SIGINT, ``"terminated"`` for SIGTERM."""
    return "interrupted" if signum == signal.SIGINT else "terminated"


class _Recorder:
    """A signal handler that only writes the signal down (see :class:`SignalHold`)."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def __call__(self, signum, frame) -> None:
        self.received.append(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _handled() -> list[int]:
    """The signals to take over: those not ignored. A process started with SIGINT ignored (a background
    job of a shell script, so that Ctrl-C on the script leaves it running) keeps ignoring it."""
    return [sig for sig in SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN]


@contextlib.contextmanager
def stop_on_signals(
    request_stop: Callable[[str], None], honoured: Callable[[], bool] = lambda: False
) -> Iterator[None]:
    """While active, the first SIGINT calls ``request_stop("interrupted")`` and SIGTERM
    ``request_stop("terminated")``. Another SIGINT within ``REPEAT_SECONDS`` of the first is the same
    request; a later one raises ``KeyboardInterrupt`` as usual (to force a stuck batch to quit), unless
    ``honoured()`` says the stop is already under way: then the batch has ended and what follows is the
    saving of its result. Signals an enclosing :class:`SignalHold` held before this began count as
    requests too. Outside the main thread signals cannot be caught, so this does nothing there."""
    if not _in_main_thread():
        yield
        return
    first: list[float] = []

    def handler(signum, frame):
        # The gap is measured when Python runs the handler, which waits for a blocking call (an fsync)
        # to return: a double press during the final save would look late. Hence ``honoured`` first.
        if first and signum == signal.SIGINT and not honoured() and time.monotonic() - first[0] > REPEAT_SECONDS:
            raise KeyboardInterrupt
        if not first:
            first.append(time.monotonic())
            request_stop(reason(signum))

    previous = {sig: signal.signal(sig, handler) for sig in _handled()}
    held = [s for h in set(previous.values()) if isinstance(h, _Recorder) for s in h.received]
    if held:
        handler(held[0], None)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class SignalHold:
    """Between :meth:`hold` and :meth:`release`, SIGINT and SIGTERM are written down instead of acted on,
    so a second Ctrl-C cannot abort the writing of a model; :meth:`release` restores the handlers and
    returns what arrived. A :func:`stop_on_signals` inside the hold still turns them into stop requests.
    Use through :func:`signal_hold`, which releases however the block ends."""

    def __init__(self) -> None:
        self._recorder: _Recorder | None = None
        self._previous: dict = {}

    def hold(self) -> None:
        if self._recorder is not None or not _in_main_thread():
            return
        self._recorder = _Recorder()
        self._previous = {sig: signal.signal(sig, self._recorder) for sig in _handled()}

    def release(self) -> list[int]:
        """Restore the handlers; the signals held (none if not holding)."""
        recorder = self._recorder
        if recorder is None:
            return []
        try:
            self._restore()
        except KeyboardInterrupt:
            # A SIGINT that came in while the handlers went back (Python runs a handler after the C-level
            # arrival, and then finds Python's own one): it was sent to the hold, so it is the hold's.
            recorder.received.append(signal.SIGINT)
            self._restore()
        self._recorder = None
        return recorder.received

    def _restore(self) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def signal_hold() -> Iterator[SignalHold]:
    """A :class:`SignalHold`, released when the block ends (also by an exception)."""
    hold = SignalHold()
    try:
        yield hold
    finally:
        hold.release()
