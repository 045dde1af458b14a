"""Library warnings go to the log at debug level, never to the user's terminal or to Slack.

transformers, huggingface_hub, peft and friends talk through `warnings.warn` (a FutureWarning
about `is_gradient_checkpointing`, a UserWarning about progress bars, ...): aimed at developers of
those libraries' callers, printed above the answer they mean nothing to the person who asked.
`route_warnings_to_log()` (called by the `ragbot` entry point, so `serve` and `run` too) hands
every warning to the `ragbot.warnings` logger at DEBUG instead; run with debug logging to see them.
"""

from __future__ import annotations

import logging
import os
import warnings

log = logging.getLogger("ragbot.warnings")


def _to_log(message, category, filename, lineno, file=None, line=None) -> None:
    log.debug("%s: %s (%s:%s)", category.__name__, message, filename, lineno)


def route_warnings_to_log() -> None:
    warnings.showwarning = _to_log
    # transformers also prints through its own logger (not `warnings`); errors only
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
