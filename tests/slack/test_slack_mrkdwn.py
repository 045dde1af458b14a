"""`mrkdwn.safe`: wiki and user text can never ping anyone or open a link."""

import re

import pytest

from bot.slack.mrkdwn import WORD_JOINER, link, markdown_to_mrkdwn, plain, safe

PINGS = re.compile(r"<[!@#]|(?<![\w.+-])@(channel|here|everyone)\b", re.IGNORECASE)


@pytest.mark.parametrize("text", [
    "<!channel> deploy now", "<!here> please", "<!here|here>", "<!everyone>",
    "ping <@U024BE7LH> now", "<@U024BE7LH|maria>",
    "page <!subteam^S0INCIDENT|@incident-commanders>",
    "page <!subteam^S0INCIDENT>", "post with @channel", "a @here b", "@everyone!", "@Channel",
    "<#C0123|eng> and <https://evil.example|click>", "<<!channel>>", "<!date^1392734382^{date}|x>",
])
def test_nothing_pings_and_no_control_sequence_survives(text):
    out = safe(text)
    assert not PINGS.search(out), out
    assert "<" not in out and ">" not in out


def test_mentions_become_readable_text():
    assert safe("page <!subteam^S0|@incident-commanders>") == "page @incident-commanders"
    assert safe("ping <@U024BE7LH> now") == "ping @U024BE7LH now"
    assert safe("<!channel>") == f"@{WORD_JOINER}channel"
    assert safe("post in #incidents with @channel") == \
        f"post in #incidents with @{WORD_JOINER}channel"
    assert safe("<#C0123|eng>") == "#eng"


def test_special_characters_are_escaped_and_emails_untouched():
    assert safe("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert safe("ops@here.com") == "ops@here.com"
    assert safe("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"
    assert safe(None) == ""


def test_links_the_bot_builds_stay_links_with_safe_labels():
    assert link("https://wiki.example/a?b=1&c=2", "A & B") == \
        "<https://wiki.example/a?b=1&amp;c=2|A &amp; B>"
    assert link("https://x.example/a|b>c", "<!channel>") == \
        f"<https://x.example/a%7Cb&gt;c|@{WORD_JOINER}channel>"
    assert link("javascript:alert(1)", "t") == "t"
    assert link(None, "plain") == "plain"


def test_plain_turns_an_event_text_back_into_the_typed_question():
    assert plain("what is &lt;b&gt; &amp; <@U1> in <#C1|eng>?") == "what is <b> & @U1 in #eng?"


def test_markdown_bold_becomes_slack_bold():
    assert markdown_to_mrkdwn("use **Vault** and **SSO**") == "use *Vault* and *SSO*"
