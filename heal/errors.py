"""Error types shared by every stage.

`TransientError` means "retry later" (a node died, a queue timed out); `FatalError` means "this item
cannot succeed as configured" and is quarantined. `ConfigError` is raised for bad user input and
always names the file, the field and the fix.
"""


class HealError(Exception):
    """Base class of heal's own errors."""


class ConfigError(HealError):
    """Bad user input: the message names the file, the field and the fix."""


class TransientError(HealError):
    """A failure that may succeed when retried (timeout, lost node, scheduler hiccup)."""


class FatalError(HealError):
    """A failure that will recur: the item is quarantined with this reason."""


class StoreLockedError(HealError):
    """Another live process holds the embedded store's writer lock."""
