"""What a push handler may raise to choose the outcome of a failed message,
instead of the topic's backoff: ``Retry`` (retry after a delay of its own)
and ``Term`` (give up at once: straight to the dead-letter topic)."""

import math
from typing import Optional


class Retry(Exception):
    """Raised by a push handler: retry the message after ``delay`` seconds
    instead of the topic's backoff (it is still dead-lettered once it has had
    ``max_attempts`` deliveries). ``reason`` is kept as the failure's text."""

    delay: float
    reason: Optional[str]

    def __init__(self, delay: float, reason: Optional[str] = None) -> None:
        delay = float(delay)
        if math.isnan(delay) or delay < 0 or math.isinf(delay):
            raise ValueError(f"Retry delay {delay} must be a finite non-negative number of seconds")
        super().__init__(delay, reason)
        self.delay = delay
        self.reason = reason

    def __str__(self) -> str:
        if self.reason:
            return self.reason
        return f"retry after {self.delay} s"


class Term(Exception):
    """Raised by a push handler: give up on the message at once; it goes to
    the dead-letter topic with ``reason`` as its error, with no more
    attempts."""

    reason: str

    def __init__(self, reason: str = "termed") -> None:
        super().__init__(reason)
        self.reason = str(reason)

    def __str__(self) -> str:
        return self.reason
