"""Reading the question (answer type, key terms) and units that say what they must be read with."""

import pytest

from bot.answering.reading import KeyTerms, carries, expected_type
from bot.answering.sentences import split_units


@pytest.mark.parametrize("question, kind", [
    ("how long do I have to submit expenses?", "duration"),
    ("how often are laptops refreshed", "duration"),
    ("how much is the home office stipend?", "amount"),
    ("how many people can join a team dinner", "count"),
    ("when is payday?", "date"),
    ("who is our CFO?", "person"),
    ("where do i toggle feature flags", "place"),
    ("which tool do we use for expenses?", "product"),
    ("how do I reset my VPN token?", "steps"),
    ("what's the parental leave policy?", "overview"),
    ("can I expense a standing desk?", None),
])
def test_the_expected_kind_of_answer_is_read_from_the_question(question, kind):
    assert expected_type(question) == kind


@pytest.mark.parametrize("kind, text, expected", [
    ("duration", "Submit every expense within 30 days of the purchase date.", True),
    ("duration", "Expenses are submitted in Tally.", False),
    ("amount", "Home office setup: $500 one-time.", True),
    ("amount", "Ask your manager first.", False),
    ("person", "Prepared by Tomás Ferreira (CFO).", True),
    ("date", "Payroll runs on the 15th and the last business day of each month.", True),
    ("date", "Use the Pulse feedback button.", False),
    ("place", "Post in #it-help.", True),
    ("steps", "Open Company Portal and install GlobalProtect.", True),
    (None, "Anything at all.", True),
])
def test_a_unit_carries_the_kind_of_answer_or_not(kind, text, expected):
    assert carries(kind, text) is expected


def test_key_terms_weigh_rare_words_and_drop_stop_words():
    idf = {"expense": 1.0, "stand": 3.0, "desk": 4.0}.get
    keys = KeyTerms.of("can I expense a standing desk?", lambda t: idf(t, 0.0))
    assert set(keys.weights) == {"expense", "stand", "desk"}
    assert keys.coverage({"desk"}) == pytest.approx(0.5)
    assert keys.missing({"desk"}) == ["expense", "stand"]


def test_units_that_lean_on_the_one_before_say_so():
    units = split_units(
        "Brightwave offers 16 weeks of paid leave. It's the same in every country.\n\n"
        "Payroll runs twice a month.\n\n"
        "What you do in Harbor:\n\n- See payslips → Pay\n- Org chart → People\n\n"
        "**Can I expense a coworking space?**\nYes, up to $300/month. See remote work page.\n\n"
        "**Can I expense a visa fee?**\nYes, visa fees are reimbursed.")
    by_text = {u.text: u for u in units}
    assert by_text["It's the same in every country."].lead == \
        by_text["Brightwave offers 16 weeks of paid leave."].position
    assert by_text["Payroll runs twice a month."].lead is None  # a new paragraph stands alone
    assert by_text["See payslips → Pay"].lead == by_text["What you do in Harbor:"].position
    assert by_text["Org chart → People"].lead == by_text["What you do in Harbor:"].position
    coworking = by_text["Can I expense a coworking space?"].position
    assert by_text["Yes, up to $300/month."].lead == coworking
    assert by_text["See remote work page."].entry == coworking
    assert by_text["Yes, visa fees are reimbursed."].entry == \
        by_text["Can I expense a visa fee?"].position


def test_no_lead_across_a_heading():
    units = split_units("Laptops are refreshed every 3 years.\n\n## Monitors\n\n"
                        "This applies to monitors too.")
    assert units[1].lead is None


def test_the_llm_prompt_carries_the_same_reading_of_the_question():
    from bot.answering.llm import LLMComposer
    from bot.answering.types import Passage
    from bot.config import AnswerConfig

    passage = Passage(id="p", source="wiki", source_id="laptops.md", title="Laptops",
                      url="", headings="Refresh", text="Laptops are refreshed every 3 years.")
    _, user = LLMComposer(AnswerConfig()).messages("how often are laptops refreshed?",
                                                   [passage], 3)
    assert user.content.endswith("(The question asks for a duration.)\n"
                                 "Question: how often are laptops refreshed?")
