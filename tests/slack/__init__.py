"""Slack app tests: pure builders and rules, and scenarios over real HTTP (see conftest.py)."""
