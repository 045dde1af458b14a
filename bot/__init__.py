"""ragbot: cited answers from the team's wiki, in Slack and in the terminal."""

from importlib.resources import files
from pathlib import Path

__version__ = "0.1.0"


def shipped(relative: str) -> Path:
    """A file the package ships: `prompts/...` or `config/ragvsft.yaml`.

    bot/shipped/ holds symlinks to the top-level prompts/ and config/ragvsft.yaml, where the files
    are edited; a wheel carries copies (pyproject's package-data), so an installed ragbot reads
    them without a checkout. A plain path: ragbot is installed as files, never from a zip.
    """
    return Path(str(files(__name__).joinpath("shipped", relative)))
