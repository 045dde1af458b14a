"""config/slack-manifest.yaml asks for what the bot uses; the bot handles what it subscribes to."""

import yaml

from bot.config import REPO_ROOT
from bot.slack import listeners

MANIFEST = yaml.safe_load((REPO_ROOT / "config" / "slack-manifest.yaml").read_text())


def test_scopes_events_commands_and_modes():
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "channels:history", "groups:history", "im:history",
            "mpim:history", "reactions:write", "users:read", "commands"} <= scopes
    settings = MANIFEST["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.channels", "message.groups", "message.im"}
    assert settings["socket_mode_enabled"] is True and settings["interactivity"]["is_enabled"]
    commands = {c["command"]: c for c in MANIFEST["features"]["slash_commands"]}
    assert set(commands) == {"/ragvsft", "/ragadmin"}
    assert all(c["usage_hint"] and c["description"] for c in commands.values())
    assert MANIFEST["features"]["app_home"]["messages_tab_enabled"]  # people can DM it


def test_every_subscribed_event_type_has_a_listener():
    class Recorder:  # stands in for App: records what each register() asks for
        def __init__(self):
            self.events = set()

        def event(self, name):
            self.events.add(name)
            return lambda f: f

        def __getattr__(self, _kind):  # command, action, view, ...: not checked here
            return lambda *a, **k: (lambda f: f)

    app = Recorder()
    listeners.register(app)
    events = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    subscribed = {e.split(".")[0] for e in events}
    assert subscribed <= app.events
