"""Tests of bot/tone: the fact guard, the local tone stage, training and eval."""
