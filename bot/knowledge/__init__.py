"""Turning sources into a searchable index: chunking, the store, sync, scheduling, sync status."""
