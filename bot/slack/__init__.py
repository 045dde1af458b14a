"""The Slack face of ragbot: a Bolt app over the same answer pipeline as `ragbot ask`."""
