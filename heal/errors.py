"""Error types shared by every stage.

Who is at fault decides what heal does with a failure:

- `ConfigError`: bad user input (a campaign file, a machine file, a parameter); the message names the file,
  the field and the fix. Nothing is recorded against any frame.
- `SetupError`: the environment keeps the work from running (a program not on PATH, ``VASP_PP_PATH`` unset,
  a missing POTCAR or package, an oracle that does not cover an element). The stage fizzles with the message
  and records nothing against the frames; after the fix ``heal resume`` runs them.
- `DiskFullError`: a write failed for lack of space (ENOSPC / EDQUOT); the campaign stops, everything already
  written stays, and ``heal resume`` continues once space is freed.
- `TransientError`: may succeed when retried (a node died, a queue timed out). Retried with backoff; if it
  outlasts the retries the stage fizzles and ``heal resume`` tries again.
- `FatalError`: this item cannot succeed as configured (SCF not converged, non-finite forces, a program that
  crashed on this input): the frame is rejected with the message as its reason, permanently until
  ``heal resume --retry-rejected``.
"""

from __future__ import annotations

import errno


class HealError(Exception):
    """Base class of heal's own errors."""

    def to_dict(self) -> dict:
        """What FireWorks stores with a fizzled launch (``_exception._details``): the kind and the whole message."""
        return {"type": type(self).__name__, "message": str(self), "stops_worker": isinstance(self, (SetupError, ConfigError))}


class ConfigError(HealError):
    """Bad user input: the message names the file, the field and the fix."""


class SetupError(HealError):
    """The environment (programs, files, packages, variables) keeps a stage from running; fix it and resume."""


class TransientError(HealError):
    """A failure that may succeed when retried (timeout, lost node, scheduler hiccup)."""


class FatalError(HealError):
    """A failure that will recur: the item is quarantined with this reason."""


class StoreLockedError(HealError):
    """Another live process holds the embedded store's writer lock."""


class StoreCorruptError(HealError):
    """The embedded store's files are damaged somewhere other than a torn last journal line."""


#: errno values that mean "no space left" (a full filesystem or an exhausted quota)
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(SetupError):
    """A write failed because its filesystem is full (or the quota is spent)."""

    def __init__(self, path, detail: str = "") -> None:
        self.path = str(path)
        extra = f" ({detail})" if detail else ""
        super().__init__(f"disk full: {self.path}{extra}; free space on that filesystem, then run "
                         f"'heal resume' on the campaign: everything written before is kept")


def is_no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in NO_SPACE
