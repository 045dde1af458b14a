"""Which sources a question asked in a given conversation may be answered from. Pure.

Rules, in order:
1. The list: a DM uses `slack.dm_sources.users[<asker>]`, else `slack.dm_sources.default`; any
   other conversation uses `slack.channels[<id>]`, else `slack.channels["#<name>"]`, else
   `slack.default_sources`. An empty list is kept (the bot then says no sources are enabled).
2. "*" in a list means every enabled *public* source; a private source is used only where named.
3. A private source is never used in a public channel (`channel`), whatever the list says. A
   conversation whose type is unknown counts as public: the check fails closed.
4. Disabled and unknown names are dropped (`check_scopes` reports unknown ones at start-up).
Because the pipeline searches only the allowed sources, a private page is never retrieved in a
public channel, so it cannot be cited, quoted or listed as a "nearest page"; at most the reply
says that only sources it cannot show here match.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings

PUBLIC_CHANNEL = "channel"
PRIVATE_CHANNEL = "group"
DIRECT_MESSAGE = "im"
GROUP_DM = "mpim"
PRIVATE_TYPES = frozenset({PRIVATE_CHANNEL, DIRECT_MESSAGE, GROUP_DM})


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    type: str | None  # channel | group | im | mpim; None when unknown (treated as public)
    name: str | None = None


def allowed_sources(settings: Settings, conversation: Conversation,
                    user: str | None) -> frozenset[str]:
    slack = settings.slack
    if conversation.type == DIRECT_MESSAGE:
        wanted = slack.dm_sources.users.get(user or "", slack.dm_sources.default)
    elif conversation.id in slack.channels:
        wanted = slack.channels[conversation.id]
    elif conversation.name and f"#{conversation.name}" in slack.channels:
        wanted = slack.channels[f"#{conversation.name}"]
    else:
        wanted = slack.default_sources
    enabled = {s.name: s for s in settings.sources if s.enabled}
    names: set[str] = set()
    for name in wanted:
        if name == "*":
            names |= {n for n, s in enabled.items() if s.visibility == "public"}
        elif name in enabled:
            names.add(name)
    if conversation.type not in PRIVATE_TYPES:
        names = {n for n in names if enabled[n].visibility == "public"}
    return frozenset(names)


def check_scopes(settings: Settings) -> list[str]:
    """Problems with the `slack:` source lists, each naming its key (empty when all is well)."""
    known = {s.name for s in settings.sources}
    problems = []

    def check(key: str, names: list[str]) -> None:
        for name in names:
            if name != "*" and name not in known:
                problems.append(f"slack.{key}: no source named {name!r} (configured sources: "
                                f"{', '.join(sorted(known)) or 'none'}; \"*\" means every "
                                "public one)")

    for channel, names in settings.slack.channels.items():
        check(f"channels.{channel}", names)
    check("default_sources", settings.slack.default_sources)
    check("dm_sources.default", settings.slack.dm_sources.default)
    for user, names in settings.slack.dm_sources.users.items():
        check(f"dm_sources.users.{user}", names)
    return problems
