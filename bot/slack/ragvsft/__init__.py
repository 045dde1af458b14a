"""`/ragvsft` in Slack: the walk's state and replies (handler) and its Block Kit screens (blocks)."""
