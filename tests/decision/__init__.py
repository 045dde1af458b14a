"""Tests of bot/decision: the /ragvsft tree engine, its state codec and terminal walk."""
