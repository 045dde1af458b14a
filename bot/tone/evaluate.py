"""`ragbot tone eval`: did the adapter move the voice, and did the guard keep every fact?

Both the untrained base model and the adapter rewrite every held-out draft with the same prompt
and decoding; each rewrite goes through the guard exactly as in production. Measures, and why:

- guard acceptance: the share of rewrites that may be sent. Everything else is moot if the
  rewrites are rejected (then the user sees the neutral draft).
- style markers (the four moves of the on-brand pairs, prompts/tone/*.jsonl): an opener (a short
  first sentence that is not in the draft), a closer (text after the last citation marker), more
  second-person words ("you", "your", ...) than the draft, more contractions than the draft
  (both counted without the opener and closer, so "Here's what you need." alone does not count).
  Rates are over all pairs, on the raw model output and on the sent reply. They say *that* the
  voice moved, independently of the exact wording.
- chrF (character n-gram F-score, n = 1..6, beta = 2; Popović 2015) to the held-out on-brand
  reply: says whether it moved *the right way*, at the level of words the team would use, and
  punishes lost or invented content too. The neutral draft's own chrF is the zero line: a reply
  must beat it to be closer to the team's voice than the unchanged draft. chrF rather than BLEU
  because the replies are short and differ in small rewrites ("is" -> "you'll") that character
  n-grams credit and 4-gram BLEU mostly does not.
- facts kept: every sent reply is checked again against its draft with the guard (accepted
  rewrites and returned drafts alike); the bar is 100%.
- content words kept: the share of the draft's content words (not function words; any form:
  "locked" ~ "Lock") still in the accepted rewrite. The guard does not look at lower-case words,
  so this shows the drift it lets through ("reserved for" -> "you can find"); the on-brand
  references, which only change the voice, are the yardstick.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from bot.tone import guard
from bot.tone.train import Pair

SECOND_PERSON_RE = re.compile(r"\b(?:you|your|yours|yourself|you'll|you're|you've|you'd)\b",
                              re.IGNORECASE)
CONTRACTION_RE = re.compile(r"\b\w+(?:n't|'ll|'re|'ve|'m|'d)\b|\b(?:it|that|here|there|what|"
                            r"let|who|where|he|she)'s\b", re.IGNORECASE)
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")
MAX_OPENER_WORDS = 8
FUNCTION_WORDS = frozenset("""
a an the and or but if when then than so as at by for from in into of on onto to with about after
before is are be been being was were am do does did done have has had having will would can could
should must may might shall need needs needed you your yours we our us they them their it its this
that these those there here what which who whom whose not no never also just any all each every
some more most other such up out very too per via employees employee staff engineers people users
""".split())


def _normal(text: str) -> str:
    return " ".join(text.replace("’", "'").split())


def split_voice(draft: str, reply: str) -> tuple[str, str, str]:
    """(opener, body, closer) of a reply to `draft`; opener/closer are "" when absent."""
    reply = _normal(reply)
    last = None
    for last in guard.MARKER_RE.finditer(reply):
        pass
    closer = reply[last.end():].strip() if last else ""
    head = reply[:last.end()] if last else reply
    first = SENTENCE_RE.split(head, maxsplit=1)
    opener = ""
    if (len(first) == 2 and not guard.MARKER_RE.search(first[0])
            and len(first[0].split()) <= MAX_OPENER_WORDS and first[0] not in _normal(draft)):
        opener, head = first[0], first[1]
    return opener, head.strip(), closer


def style_markers(draft: str, reply: str) -> dict[str, bool]:
    opener, body, closer = split_voice(draft, reply)
    draft = _normal(draft)
    return {
        "opener": bool(opener),
        "closer": bool(closer),
        "second_person": len(SECOND_PERSON_RE.findall(body)) > len(SECOND_PERSON_RE.findall(draft)),
        "contractions": len(CONTRACTION_RE.findall(body)) > len(CONTRACTION_RE.findall(draft)),
    }


def content_words(text: str) -> set[str]:
    text = guard.MARKER_RE.sub(" ", text)
    return {guard.stem(w) for w in re.findall(r"[A-Za-z][A-Za-z-]*", text)
            if w.lower() not in FUNCTION_WORDS and len(w) > 2}


def content_kept(draft: str, reply: str) -> float:
    """Share of the draft's content words still in `reply` (1.0 for an empty draft)."""
    words = content_words(draft)
    return len(words & content_words(reply)) / len(words) if words else 1.0


def _ngrams(text: str, n: int) -> Counter:
    text = "".join(text.split())  # chrF ignores whitespace
    return Counter(text[i:i + n] for i in range(len(text) - n + 1))


def chrf(hypothesis: str, reference: str, max_n: int = 6, beta: float = 2.0) -> float:
    """chrF in [0, 100] (sacrebleu's default chrF: char n-grams 1..6, beta 2, no word n-grams)."""
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        hyp, ref = _ngrams(hypothesis, n), _ngrams(reference, n)
        if not hyp or not ref:
            continue
        match = sum((hyp & ref).values())
        precisions.append(match / sum(hyp.values()))
        recalls.append(match / sum(ref.values()))
    if not precisions:
        return 0.0
    p, r = statistics.mean(precisions), statistics.mean(recalls)
    if p + r == 0:
        return 0.0
    return 100 * (1 + beta ** 2) * p * r / (beta ** 2 * p + r)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def score_texts(pairs: list[Pair], replies: list[str]) -> dict[str, float]:
    """Style marker rates and chrF of fixed texts (the drafts themselves, the references)."""
    marks = [style_markers(p.neutral, r) for p, r in zip(pairs, replies)]
    out = {f"{k}_rate": sum(m[k] for m in marks) / len(marks) for k in marks[0]}
    out["style_score"] = statistics.mean(statistics.mean(m.values()) for m in marks)
    out["chrf_raw"] = out["chrf_sent"] = statistics.mean(
        chrf(r, p.on_brand) for p, r in zip(pairs, replies))
    out["content_kept_accepted"] = statistics.mean(
        content_kept(p.neutral, r) for p, r in zip(pairs, replies))
    return out


def run_model(stage, pairs: list[Pair], on_pair: Callable[[int], None] | None = None) -> dict:
    """Rewrite every pair's draft with `stage` (a LocalToneStage or anything with rewrite())."""
    rows = []
    for i, pair in enumerate(pairs, 1):
        outcome = stage.rewrite(pair.neutral)
        raw = outcome.rewrite if outcome.rewrite is not None else outcome.text
        rows.append({"id": pair.id, "draft": pair.neutral, "reference": pair.on_brand,
                     "rewrite": raw, "sent": outcome.text, "accepted": outcome.accepted,
                     "reason": outcome.reason, "latency_ms": round(outcome.latency_ms, 1),
                     "markers_raw": style_markers(pair.neutral, raw or ""),
                     "markers_sent": style_markers(pair.neutral, outcome.text),
                     "chrf_raw": round(chrf(raw or "", pair.on_brand), 2),
                     "chrf_sent": round(chrf(outcome.text, pair.on_brand), 2),
                     "facts_kept": guard.check(pair.neutral, outcome.text).ok,
                     "content_kept": round(content_kept(pair.neutral, outcome.text), 3)})
        if on_pair:
            on_pair(i)
    n = len(rows)
    summary = {"pairs": n, "acceptance": sum(r["accepted"] for r in rows) / n}
    for kind in ("raw", "sent"):
        for key in rows[0][f"markers_{kind}"]:
            summary[f"{key}_rate_{kind}"] = sum(r[f"markers_{kind}"][key] for r in rows) / n
        summary[f"style_score_{kind}"] = statistics.mean(
            statistics.mean(r[f"markers_{kind}"].values()) for r in rows)
        summary[f"chrf_{kind}"] = statistics.mean(r[f"chrf_{kind}"] for r in rows)
    summary["facts_kept_sent"] = sum(r["facts_kept"] for r in rows) / n
    summary["facts_kept_accepted"] = (sum(r["facts_kept"] for r in rows if r["accepted"]),
                                      sum(r["accepted"] for r in rows))
    accepted = [r["content_kept"] for r in rows if r["accepted"]]
    summary["content_kept_accepted"] = statistics.mean(accepted) if accepted else None
    summary["accepted_losing_content"] = sum(c < 1.0 for c in accepted)
    summary["reasons"] = dict(Counter(_reason_kind(r["reason"]) for r in rows
                                      if not r["accepted"]).most_common())
    latencies = [r["latency_ms"] for r in rows]
    summary["latency_p50_ms"] = _percentile(latencies, 0.5)
    summary["latency_p95_ms"] = _percentile(latencies, 0.95)
    return {"summary": summary, "rows": rows}


def _reason_kind(reason: str | None) -> str:
    """"facts changed: lost number 5 (before [2])" -> "facts changed" for the tally."""
    return (reason or "").split(":", 1)[0]


def report(base: dict, adapter: dict, pairs: list[Pair], *, card: dict | None = None,
           settings: dict | None = None) -> dict:
    """The --out JSON: both models' summaries and rows, plus the draft/reference anchors."""
    return {
        "pairs": len(pairs),
        "settings": settings or {},
        "adapter_card": card,
        "anchors": {"draft": score_texts(pairs, [p.neutral for p in pairs]),
                    "reference": score_texts(pairs, [p.on_brand for p in pairs])},
        "base": base,
        "adapter": adapter,
    }


def table_rows(result: dict) -> list[tuple[str, str, str, str, str]]:
    """(metric, draft, base, adapter, reference) rows of the eval table."""
    base, ad = result["base"]["summary"], result["adapter"]["summary"]
    draft, ref = result["anchors"]["draft"], result["anchors"]["reference"]

    def pct(x: float) -> str:
        return f"{100 * x:.0f}%"

    rows = [("guard acceptance", "-", pct(base["acceptance"]), pct(ad["acceptance"]), "100%")]
    for key, label in (("opener", "opener"), ("closer", "closer"),
                       ("second_person", "more 2nd person"), ("contractions", "more contractions")):
        rows.append((f"{label} (raw / sent)", pct(draft[f"{key}_rate"]),
                     f"{pct(base[f'{key}_rate_raw'])} / {pct(base[f'{key}_rate_sent'])}",
                     f"{pct(ad[f'{key}_rate_raw'])} / {pct(ad[f'{key}_rate_sent'])}",
                     pct(ref[f"{key}_rate"])))
    rows.append(("style score (raw / sent)", pct(draft["style_score"]),
                 f"{pct(base['style_score_raw'])} / {pct(base['style_score_sent'])}",
                 f"{pct(ad['style_score_raw'])} / {pct(ad['style_score_sent'])}",
                 pct(ref["style_score"])))
    rows.append(("chrF to on_brand (raw / sent)", f"{draft['chrf_raw']:.1f}",
                 f"{base['chrf_raw']:.1f} / {base['chrf_sent']:.1f}",
                 f"{ad['chrf_raw']:.1f} / {ad['chrf_sent']:.1f}", "100.0"))
    def kept(x: float | None) -> str:
        return "-" if x is None else pct(x)

    rows.append(("content words kept (accepted)", "100%", kept(base["content_kept_accepted"]),
                 kept(ad["content_kept_accepted"]), kept(ref["content_kept_accepted"])))
    rows.append(("facts kept in sent replies", "100%", pct(base["facts_kept_sent"]),
                 pct(ad["facts_kept_sent"]), "100%"))
    rows.append(("rewrite latency p50 / p95", "-",
                 f"{base['latency_p50_ms'] / 1000:.2f}s / {base['latency_p95_ms'] / 1000:.2f}s",
                 f"{ad['latency_p50_ms'] / 1000:.2f}s / {ad['latency_p95_ms'] / 1000:.2f}s", "-"))
    return rows


def write_result(path: Path, result: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(value):
    if isinstance(value, Pair):
        return asdict(value)
    return str(value)
