"""Turn Ctrl-C (SIGINT) and SIGTERM into a polite request to stop after the current batch."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def stop_on_signals(request_stop: Callable[[str], None]) -> Iterator[None]:
    """While active, the first SIGINT calls ``request_stop("interrupted")`` and SIGTERM
    ``request_stop("terminated")``; a second SIGINT
    raises ``KeyboardInterrupt`` as usual. Outside the main thread signals cannot be caught, so this
    does nothing there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    received: list[int] = []

    def handler(signum, frame):
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)
        request_stop("interrupted" if signum == signal.SIGINT else "terminated")

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
