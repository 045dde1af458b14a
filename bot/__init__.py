"""ragbot: cited answers from the team's wiki, in Slack and in the terminal."""

__version__ = "0.1.0"
