"""Reading the question: what kind of answer it expects, and which of its words must be covered.

*Answer type.* "how long" expects a duration, "how much" an amount, "who" a person, role or
team, "when" a date, weekday or time, "where" a place (a channel, a link, a page), "which tool"
a named product, "how do I" steps. `expected_type` reads it from the question; `carries` says
whether a unit holds something of that kind. A unit that carries none of what the question asks
for is rarely its answer ("Problems with Harbor: #people-team." does not name a CFO).

*Key terms.* The question's content words (stop words dropped, light stemming from
`lexical.tokenize`), weighted by how rare they are in the index (BM25's IDF), so "desk" counts
and "policy" barely does. `coverage` is the IDF-weighted share of them a text holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.answering.lexical import tokenize

_NUMBER_WORDS = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
                 r"twenty|thirty|forty|fifty|sixty|ninety|hundred|a few|several|a|an|half an?)")
_UNIT_OF_TIME = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|h|days?|nights?|weeks?|wks?|" \
                r"months?|years?|yrs?|quarters?|sprints?|business days?|working days?|" \
                r"calendar days?|weekdays?)"
_DURATION = re.compile(
    rf"\b(?:\d+(?:[.,]\d+)?(?:\s*(?:-|–|to)\s*\d+(?:[.,]\d+)?)?|{_NUMBER_WORDS})[\s-]*"
    rf"\(?\d*\)?\s*{_UNIT_OF_TIME}\b|\b(?:daily|weekly|bi-?weekly|fortnightly|monthly|"
    rf"quarterly|annually|yearly|hourly|every (?:day|week|month|quarter|year|other)|once a|"
    rf"twice a|per (?:day|week|month|year|quarter)|a (?:day|week|month|year)|indefinitely|"
    rf"forever|permanent(?:ly)?|immediately|same day|next day|end of (?:the )?(?:day|week|"
    rf"month|quarter|year))\b", re.I)
_WEEKDAYS = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?s?"
_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DATE = re.compile(
    rf"\b(?:{_WEEKDAYS}|{_MONTHS})\b|\b\d{{4}}-\d{{2}}(?:-\d{{2}})?\b|\b(?:19|20)\d\d\b|"
    rf"\b\d{{1,2}}(?:st|nd|rd|th)\b|\b\d{{1,2}}(?::\d{{2}})?\s*(?:am|pm)\b|\b\d{{1,2}}:\d{{2}}\b|"
    rf"\b(?:utc|gmt|pst|pdt|pt|et|cet)\b|\bq[1-4]\b|\b(?:before|after|within|until|by the|"
    rf"during|prior to|at the (?:start|end)|end of|beginning of|start of|each|every|once|"
    rf"annual(?:ly)?|quarterly|monthly|weekly|daily|first|last|next)\b", re.I)
_COUNT = re.compile(rf"\b\d+(?:[.,]\d+)?\b|\b{_NUMBER_WORDS}\b|\b(?:no|none|unlimited|single|"
                    r"once|twice|both|all|each|every|maximum|minimum|at most|at least|up to)\b",
                    re.I)
_AMOUNT = re.compile(r"[$€£¥₹]\s?\d|\d\s?(?:%|percent\b|usd\b|eur\b|gbp\b|dollars?\b|euros?\b|"
                     r"k\b)|\b(?:free|covered|reimbursed|paid|unpaid|no cost|full|fully|"
                     r"half|per cent|per person|per month|per year|a month|a year|budget|"
                     r"allowance|stipend|up to)\b", re.I)
_ROLE = re.compile(
    r"\b(?:team|teams|manager|managers|lead|leads|owner|owners|head|director|captain|engineer|"
    r"engineers|admin|admins|administrator|people ops|ceo|cto|cfo|coo|cmo|cpo|vp|chief|officer|"
    r"partner|committee|council|board|responsible|on-?call|champion|dri|founder|cofounder|"
    r"co-founder|recruiter|coordinator|specialist|assistant|approver|reviewer|author|"
    r"department|person|people|hr|finance|legal|security|it|support|ops|staff|member|members|"
    r"everyone|anyone|nobody|employees?|teammates?|contractors?)\b", re.I)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zà-ÿ]+(?:\s+[A-Z][a-zà-ÿ]+)+\b|@[\w.-]+|#[\w-]+")
_PLACE = re.compile(
    r"https?://|www\.|#[\w-]+|`[^`]+`|\b[\w.-]+@[\w-]+\.\w+|\b(?:channel|page|folder|repo|"
    r"repository|drive|doc|docs|document|room|office|floor|link|site|portal|tab|section|"
    r"dashboard|handbook|wiki|notion|confluence|slack|google|calendar|sheet|spreadsheet|form|"
    r"board|project|directory|menu|settings|app|website|url|inbox|tracker|issue|in the)\b", re.I)
_WHERE_CASED = re.compile(r"→|->|\s>\s|\b(?:in|on|at|under|from|via|to) (?:the )?[A-Z`#@]")
_PRODUCT = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w.+-]*[A-Za-z0-9]\b|`[^`]+`|https?://|\b[a-z]+"
                      r"[A-Z]\w*\b|\b[\w-]+\.(?:io|com|app|dev|net|org|sh)\b")
_STEPS = re.compile(
    r"^(?:to \w+|first|then|next|finally|go to|open|click|run|use|type|select|add|create|ask|"
    r"request|submit|file|email|post|book|fill|send|set|install|enable|log|sign|follow|check|"
    r"make|write|reach out|contact|visit|navigate|choose|pick|download|update|join|message|"
    r"ping|tag|copy|paste|start|reply|mention)\b|\b(?:you can|you should|you need to|you must|"
    r"need to|steps?|instructions|via|through|using|by (?:running|clicking|going|sending|"
    r"filling|opening|asking|creating|adding))\b", re.I)

# question pattern -> answer type; the first match wins, so specific patterns come first
_QUESTION_TYPES: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(p, re.I), t) for p, t in (
        (r"\bhow (?:long|soon|quickly|fast|far back|far in advance|early|late)\b|\bhow many "
         r"(?:days?|weeks?|months?|hours?|minutes?|years?|business days)\b|\bwhat(?:'s| is)? "
         r"the (?:retention|notice|waiting|probation\w*|grace) period\b|\bhow often\b|"
         r"\bfrequency\b|\bduration\b", "duration"),
        (r"\bhow much\b|\bwhat(?:'s| is| are)? (?:the )?(?:cost|price|budget|amount|limit|cap|"
         r"rate|stipend|allowance|salary|fee|percentage|match)\b|\bhow many dollars\b|"
         r"\bwhat percent", "amount"),
        (r"\bhow many\b|\bnumber of\b|\bhow often\b", "count"),
        (r"\b(?:when|what time|what day|which day|what date|by when|what month|which month|"
         r"what year|deadline|cutoff|cut-off)\b", "date"),
        (r"\b(?:who|whom|whose)\b|\bwhich (?:team|person|people|role|group)\b", "person"),
        (r"\bwhere\b|\bwhich (?:channel|page|folder|repo|doc|document|site|link|url)\b|"
         r"\bwhat (?:channel|page|folder|repo|link|url|email|address)\b", "place"),
        (r"\b(?:which|what) (?:tool|tools|app|apps|software|service|platform|system|product|"
         r"provider|vendor|library|framework|database|language|editor|ide|program|tracker|"
         r"cli|command)\b|\bwhat (?:do|does|did|should) (?:we|i|you|the \w+) use\b|\bwhat'?s "
         r"used (?:for|to)\b|\bwhich .* (?:do|does) we use\b", "product"),
        (r"\bhow (?:do|can|should|would) (?:i|we|you|one)\b|\bhow to\b|\bwhat(?:'s| are)? the "
         r"steps\b|\bwhat(?:'s| is) the process\b|\bprocess for\b|\bsteps? to\b", "steps"),
        (r"^\W*(?:what(?:'s| is| are)|tell me about|explain|describe|overview of)\b"
         r"(?:\s+(?:the|our|a|an))?(?:\s+[\w-]+){0,4}?\s+(?:policy|policies|rules?|"
         r"guidelines?|benefits?|program(?:me)?|plan|process)\W*$|^\W*(?:tell me about|"
         r"explain|describe|overview of)\b", "overview"),
    ))

_CARRIES = {"duration": (_DURATION,), "amount": (_AMOUNT,), "count": (_COUNT,),
            "date": (_DATE,), "person": (_ROLE, _NAME), "place": (_PLACE, _WHERE_CASED),
            "product": (_PRODUCT,), "steps": (_STEPS,), "overview": ()}

# the kind of answer, as a noun phrase: "... but doesn't give a duration"
TYPE_NOUNS = {"duration": "a duration", "amount": "an amount", "count": "a number",
              "date": "a date or time", "person": "a person or team", "place": "a place or link",
              "product": "a tool or product name", "steps": "the steps",
              "overview": "an overview"}


def expected_type(question: str) -> str | None:
    """The kind of answer the question asks for (a key of TYPE_NOUNS), or None when open."""
    for pattern, kind in _QUESTION_TYPES:
        if pattern.search(question):
            return kind
    return None


def carries(kind: str | None, text: str) -> bool:
    """Does `text` hold something of the expected kind? (Always true for an open question.)"""
    if kind is None:
        return True
    return any(p.search(text) for p in _CARRIES[kind])


@dataclass(frozen=True, slots=True)
class KeyTerms:
    """The question's content terms and their weights (IDF in the index; 1 each without one)."""

    weights: dict[str, float]

    @classmethod
    def of(cls, question: str, idf: Callable[[str], float] | None = None) -> KeyTerms:
        terms = dict.fromkeys(t for t in tokenize(question) if len(t) > 1)  # "what's" -> "s"
        return cls({t: (max(idf(t), 0.0) if idf else 1.0) for t in terms})

    def coverage(self, text_terms: set[str]) -> float:
        total = sum(self.weights.values())
        if not total:
            return 1.0
        return sum(w for t, w in self.weights.items() if t in text_terms) / total

    def missing(self, text_terms: set[str]) -> list[str]:
        return [t for t in self.weights if t not in text_terms]
