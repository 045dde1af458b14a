"""Channel scoping: a private source never in a public channel; DMs use the asker's sources."""

import pytest

from bot.config import parse_settings
from bot.config import REPO_ROOT
from bot.slack.scope import Conversation, allowed_sources, check_scopes


def settings(**slack):
    return parse_settings({
        "sources": [
            {"name": "handbook", "type": "folder", "path": "config/demo-wiki"},
            {"name": "eng", "type": "folder", "path": "config/demo-wiki"},
            {"name": "leadership", "type": "folder", "path": "config/demo-private",
             "visibility": "private"},
            {"name": "old", "type": "folder", "path": "config/demo-wiki", "enabled": False},
        ],
        "slack": slack}, REPO_ROOT)


PUBLIC = Conversation("C1", "channel", "general")


def test_default_star_is_every_enabled_public_source():
    assert allowed_sources(settings(), PUBLIC, "U1") == {"handbook", "eng"}


def test_channel_mapping_by_id_then_by_name_then_default():
    s = settings(channels={"C1": ["handbook"], "#eng": ["eng"]}, default_sources=["handbook"])
    assert allowed_sources(s, PUBLIC, "U1") == {"handbook"}
    assert allowed_sources(s, Conversation("C2", "channel", "eng"), "U1") == {"eng"}
    assert allowed_sources(s, Conversation("C3", "channel", "random"), "U1") == {"handbook"}


@pytest.mark.parametrize("kind", ["channel", None])
def test_private_source_never_in_a_public_or_unknown_channel_whatever_the_mapping(kind):
    s = settings(channels={"C1": ["leadership", "handbook"]}, default_sources=["leadership"])
    assert allowed_sources(s, Conversation("C1", kind), "U1") == {"handbook"}
    assert allowed_sources(s, Conversation("C9", kind), "U1") == frozenset()


def test_private_source_allowed_where_named_in_private_channels_and_group_dms():
    s = settings(channels={"G1": ["leadership"]}, default_sources=["*", "leadership"])
    assert allowed_sources(s, Conversation("G1", "group"), "U1") == {"leadership"}
    assert allowed_sources(s, Conversation("G2", "mpim"), "U1") == {"handbook", "eng", "leadership"}
    assert "leadership" not in allowed_sources(settings(), Conversation("G3", "group"), "U1")


def test_dm_uses_the_askers_sources_else_the_dm_default():
    s = settings(dm_sources={"default": ["handbook"], "users": {"U0BOSS": ["*", "leadership"]}},
                 channels={"D1": ["eng"]})
    dm = Conversation("D1", "im")
    assert allowed_sources(s, dm, "U0BOSS") == {"handbook", "eng", "leadership"}
    assert allowed_sources(s, dm, "U0ALICE") == {"handbook"}


def test_disabled_and_unknown_sources_are_dropped_and_reported():
    s = settings(channels={"C1": ["old", "nope"]}, dm_sources={"users": {"U1": ["typo"]}})
    assert allowed_sources(s, PUBLIC, "U1") == frozenset()
    problems = check_scopes(s)
    assert any("slack.channels.C1" in p and "'nope'" in p for p in problems)
    assert any("slack.dm_sources.users.U1" in p for p in problems)
    assert check_scopes(settings()) == []
