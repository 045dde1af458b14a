"""bot/tone/guard.py: a rewrite that changes a fact or a citation is rejected; the voice may change.

Each rejection case changes exactly one thing of an otherwise good rewrite, so a pass proves
the guard looks at that thing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.config import REPO_ROOT
from bot.tone.guard import GuardResult, check, facts

DRAFT = ("Expenses are submitted in Expensify within 30 days of the purchase date. [1] "
         "Expenses over $75 also require a short business justification. [2]")
GOOD = ("Happy to help! You submit expenses in Expensify within 30 days of the purchase date. "
        "[1] Expenses over $75 also need a short business justification. [2] Hope that helps!")

RICH = ("VPN tokens expire after 12 hours. [1] A new token can be generated at "
        "https://vpn.brightwave.example/reset. [2] If the page says \"Token invalid\", run "
        "`globalprotect collect-log` and post in #it-help or mail it-help@brightwave.example. [3] "
        "The Harbor HR team reviews requests in Okta. [3]")
RICH_GOOD = ("Sure thing! VPN tokens expire after 12 hours. [1] You can generate a new one at "
             "https://vpn.brightwave.example/reset. [2] If the page says \"Token invalid\", run "
             "`globalprotect collect-log` and post in #it-help or mail "
             "it-help@brightwave.example. [3] The Harbor HR team reviews requests in Okta. [3] "
             "Good luck!")


def _pairs(name: str) -> list[dict]:
    path = REPO_ROOT / "prompts" / "tone" / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


@pytest.mark.parametrize("name", ["train.jsonl", "heldout.jsonl"])
def test_every_on_brand_pair_passes_against_its_neutral(name):
    rejected = [(p["id"], check(p["neutral"], p["on_brand"]).reason) for p in _pairs(name)]
    assert [r for r in rejected if r[1] is not None] == []
    assert len(rejected) >= 40


def test_good_rewrites_pass():
    assert check(DRAFT, GOOD) == GuardResult(True, None)
    assert check(RICH, RICH_GOOD).ok
    assert check(DRAFT, DRAFT).ok  # the unchanged draft is trivially fine


@pytest.mark.parametrize("rewrite, reason", [
    # citation markers
    (GOOD.replace(" [2]", ""), "markers changed: lost [2]"),
    (GOOD.replace("[2]", "[3]"), "markers changed: lost [2]; added [3]"),
    (GOOD.replace("date. [1]", "date. [1] [1]"), "markers changed: added [1]"),
    (GOOD.replace("[1]", "[X]").replace("[2]", "[1]").replace("[X]", "[2]"),
     "markers reordered: [2] [1]"),
    # numbers
    (GOOD.replace("30 days", "60 days"), "facts changed: lost number 30; added number 60"),
    (GOOD.replace("$75", "$750"), "facts changed: lost number $75; added number $750"),
    (GOOD.replace("30 days", "thirty days"), "facts changed: lost number 30; added number thirty"),
    (GOOD.replace("Hope that helps!", "Hope that helps in 2 minutes!"),
     "facts changed: added number 2"),
    # names
    (GOOD.replace("in Expensify", "in Concur"),
     "facts changed: lost name Expensify; added name Concur"),
    (GOOD.replace("short business", "short Finance"), "facts changed: added name Finance"),
])
def test_changed_fact_or_marker_is_rejected(rewrite, reason):
    assert check(DRAFT, rewrite) == GuardResult(False, reason)


@pytest.mark.parametrize("old, new, expected", [
    ("https://vpn.brightwave.example/reset", "https://vpn.brightwave.example/login",
     "url https://vpn.brightwave.example/reset"),
    ("`globalprotect collect-log`", "`globalprotect logs`", "code `globalprotect collect-log`"),
    ("\"Token invalid\"", "\"Invalid token\"", "quote \"Token invalid\""),
    ("it-help@brightwave.example", "help@brightwave.example", "email it-help@brightwave.example"),
    ("#it-help", "#helpdesk", "channel #it-help"),
    ("Harbor HR team", "Harbor team", "name Harbor HR"),
    ("12 hours", "12 days", None),  # a unit word is not a fact the guard sees (a known blind spot)
])
def test_changed_literal_is_rejected(old, new, expected):
    result = check(RICH, RICH_GOOD.replace(old, new))
    if expected is None:
        assert result.ok
    else:
        assert not result.ok and f"lost {expected}" in result.reason, result.reason


def test_added_literals_are_rejected():
    for extra in ("https://evil.example/x", "`rm -rf /`", "\"Admin\" mode", "sales@brightwave.example",
                  "#general", "Zendesk"):
        rewrite = GOOD.replace("Hope that helps!", f"See also {extra} for more.")
        result = check(DRAFT, rewrite)
        assert not result.ok and "added" in result.reason, (extra, result)


def test_fact_may_not_move_to_another_citation():
    draft = "Laptops are replaced every 3 years. [1] Monitors are replaced every 5 years. [2]"
    swapped = ("Sure thing! Laptops are replaced every 5 years. [1] Monitors are replaced every 3 "
               "years. [2] Good luck!")
    result = check(draft, swapped)
    assert not result.ok and result.reason.endswith("(before [1])"), result.reason


def test_negation_and_qualifier_may_not_be_dropped():
    draft = "Personal devices may not access the admin console. [1] Only managers can book it. [2]"
    assert check(draft, "No problem! You can't access the admin console from personal devices. "
                        "[1] Only managers can book it. [2] Good luck!").ok
    flipped = check(draft, "Sure thing! Personal devices can access the admin console. [1] "
                           "Only managers can book it. [2] Good luck!")
    assert flipped == GuardResult(False, "negation lost: 1 -> 0")
    widened = check(draft, "Sure thing! You can't use personal devices for the admin console. [1] "
                           "Managers can book it. [2] Good luck!")
    assert widened == GuardResult(False, "qualifier lost: only")


def test_names_survive_moving_from_sentence_start():
    draft = "Dublin staff can request one through the IT portal. [1]"
    assert check(draft, "Sure thing! Staff in Dublin can request one through the IT portal. [1] "
                        "Good luck!").ok
    assert not check(draft, "Sure thing! Staff in Cork can request one through the IT portal. "
                            "[1] Good luck!").ok


def test_new_word_at_sentence_start_is_rejected():
    draft = ("Downgrading from Enterprise to Growth takes effect at the end of the term. [1] "
             "Dublin staff can request one through the IT portal. [2]")
    good = ("No problem! Downgrading from Enterprise to Growth takes effect at the end of the term. "
            "[1] If you're in Dublin, you can request one through the IT portal. [2] Good luck!")
    assert check(draft, good).ok
    assert check(draft, good.replace("Downgrading", "Upgrading")) == GuardResult(
        False, "new sentence start: Upgrading")
    moved = good.replace("If you're in Dublin, you", "London staff")
    assert check(draft, moved) == GuardResult(False, "new sentence start: London")


LEAD_IN = ("Create an override in PagerDuty for the exact hours. [1] Unacknowledged pages "
           "escalate to the secondary after 10 minutes, then keep climbing: [1]")


def test_a_marker_ends_its_sentence_even_after_a_colon():
    # the composer cuts a list's lead-in at its marker; the closer after it is no name
    assert check(LEAD_IN, f"No problem! {LEAD_IN} Hope that helps!").ok


@pytest.mark.parametrize("rewrite, reason", [
    # ... but the word after a marker is held to the sentence-start rule instead
    (f"No problem! {LEAD_IN.replace('[1] Unacknowledged', '[1] London')} Hope that helps!",
     "new sentence start: London"),
    (f"No problem! {LEAD_IN} Ask Finance if you're stuck!", "facts changed: added name Finance"),
    (f"No problem! {LEAD_IN.replace('10 minutes', '15 minutes')} Hope that helps!",
     "facts changed: lost number 10; added number 15"),
])
def test_a_marker_as_sentence_end_lets_no_new_fact_through(rewrite, reason):
    assert check(LEAD_IN, rewrite) == GuardResult(False, reason)


def test_sentence_start_may_be_another_form_of_a_draft_word():
    draft = "Screens must be locked when a desk is left. [1] Notes are written in Lattice. [1]"
    assert check(draft, "Sure thing! Lock your screen when you leave your desk. [1] Write your "
                        "notes in Lattice. [1] Good luck!").ok


@pytest.mark.parametrize("rewrite, reason", [
    ("", "empty output"),
    ("   \n", "empty output"),
    (None, "empty output"),
])
def test_empty_output_is_rejected(rewrite, reason):
    assert check(DRAFT, rewrite) == GuardResult(False, reason)


def test_overlong_output_is_rejected():
    rambling = GOOD + " Also, remember to keep receipts and ask your manager." * 5
    result = check(DRAFT, rambling)
    assert not result.ok and result.reason.startswith("too long:")


@pytest.mark.parametrize("mention", ["<!channel>", "<!here>", "<@U024BE7LH>", "@here",
                                     "@channel", "@everyone", "<!subteam^S012>"])
def test_new_slack_mention_is_rejected(mention):
    result = check(DRAFT, GOOD.replace("Happy to help!", f"Happy to help {mention}!"))
    assert not result.ok and result.reason.startswith("mention added:"), result


def test_mention_already_in_the_draft_may_stay():
    draft = "Outages are announced with @here in #eng-oncall. [1]"
    assert check(draft, "Good question! Outages are announced with @here in #eng-oncall. [1] "
                        "Good luck!").ok


def test_facts_extraction():
    f = facts(RICH)
    assert {"number 12", "url https://vpn.brightwave.example/reset", "quote \"Token invalid\"",
            "code `globalprotect collect-log`", "channel #it-help",
            "email it-help@brightwave.example"} <= f.literals
    assert f.names == {"Harbor HR", "Okta", "VPN"}
    assert facts("Use 1Password and the _DRAFT suffix, e.g. on GitHub. [1]").names == {
        "1Password", "_DRAFT", "GitHub"}


def test_guard_is_pure():
    """Every backend imports the guard; it must not drag torch or transformers in."""
    code = ("import sys, bot.tone.guard; "
            "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, check=True).stdout.strip()
    assert out == "[]"
