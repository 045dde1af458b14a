"""The inverted-index BM25 scores exactly what the reference implementation (rank_bm25) scores."""

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from bot.answering.lexical import LexicalIndex, tokenize

TEXTS = [
    "Expense reports are due by the 5th of the month in Navan.",
    "The VPN client for Linux is WireGuard; macOS uses the Tailscale app.",
    "SEV2 incidents page the on-call engineer, who must acknowledge within 15 minutes.",
    "Payday is on the 15th and the last business day of the month for US employees.",
    "Expense expense expense: the policy for travel expenses and meals.",
    "",  # a chunk with no indexable words still gets a row
    "The 401k match is 4% and vests immediately.",
]
SOURCES = ["wiki", "wiki", "eng", "wiki", "wiki", "wiki", "hr"]


@pytest.fixture(scope="module")
def index():
    return LexicalIndex([f"c{i}" for i in range(len(TEXTS))], TEXTS, SOURCES)


@pytest.mark.parametrize("query", ["expense report due", "payday of the month", "sev2 on-call",
                                   "linux vpn vpn", "401k match", "nothing matches zzz"])
def test_scores_match_rank_bm25(index, query):
    reference = BM25Okapi([tokenize(t) or ["_"] for t in TEXTS])
    terms = tokenize(query)
    assert np.allclose(index.scores(terms), reference.get_scores(terms))
    for term in set(terms) & set(reference.idf):
        assert index.idf(term) == pytest.approx(reference.idf[term])


def test_search_ranks_best_first_and_drops_zero_scores(index):
    hits = index.search("expense report", None, k=10)
    assert [index.ids[row] for row, _ in hits] == ["c0", "c4"]
    assert hits[0][1] > hits[1][1] > 0


def test_search_keeps_to_allowed_sources_and_k(index):
    assert [index.ids[r] for r, _ in index.search("the month", {"eng", "hr"}, 5)] == []
    assert len(index.search("the month expense payday", None, k=1)) == 1
    assert [index.ids[r] for r, _ in index.search("401k", {"hr"}, 5)] == ["c6"]


def test_unseen_terms_count_as_rare_and_an_empty_index_is_harmless(index):
    assert index.idf("zzz") == max(index.idf(t) for t in tokenize(" ".join(TEXTS)))
    empty = LexicalIndex([], [], [])
    assert empty.search("anything", None, 5) == [] and empty.idf("x") == 0.0
