"""The answer pipeline over the demo wiki (real index, real embedding model, tone off)."""

import re

import pytest

from bot.answering.types import NO_MATCH, PRIVATE_ONLY, QuestionError

MARKER = re.compile(r"\[(\d+)\]")


def test_a_cited_answer_every_sentence_marked_passages_numbered_in_order(demo_pipeline):
    answer = demo_pipeline.answer("how do I reset my VPN token?")
    assert not answer.abstained
    assert "https://vpn.brightwave.example/reset" in answer.text
    sentences = re.split(r"(?<=\])\s+", answer.text.strip())
    assert all(MARKER.search(s) and s.rstrip().endswith("]") for s in sentences)
    used = [int(n) for n in MARKER.findall(answer.text)]
    first_use = list(dict.fromkeys(used))
    assert first_use == list(range(1, len(first_use) + 1))
    assert [c.n for c in answer.citations] == first_use
    for citation in answer.citations:
        assert citation.url.startswith("https://wiki.brightwave.example/")
        assert citation.updated_at is not None
    # every cited sentence is made of the words of the passage it cites (table rows are
    # rendered "Header: cell; ...", so compare words, not the raw string)
    words = re.compile(r"\w[\w/:-]*(?:\.[\w/:-]+)*")
    for sentence in sentences:
        n = int(MARKER.search(sentence).group(1))
        body = MARKER.sub("", sentence).replace(" ...", "")
        passage = answer.citations[n - 1].passage
        header_words = {"Problem:", "Fix:"}  # "Header: cell" labels of a rendered table row
        assert set(words.findall(body)) - header_words <= set(words.findall(passage)), sentence


def test_retrieval_returns_at_least_ten_ranked_passages(demo_pipeline):
    answer = demo_pipeline.answer("expense report deadline")
    assert len(answer.retrieved) >= 10
    assert [p.score for p in answer.retrieved] == sorted((p.score for p in answer.retrieved),
                                                         reverse=True)


def test_abstains_on_what_the_wiki_does_not_say_and_lists_nearest_pages(demo_pipeline):
    answer = demo_pipeline.answer("who won the hackathon last year?")
    assert answer.abstained and answer.reason == NO_MATCH
    assert answer.citations == []
    # no quote, one line naming what the nearest pages lack
    assert re.fullmatch(r"The wiki pages nearest to this question don't mention \"hackathon\"\.",
                        answer.text)
    assert answer.nearest


@pytest.mark.parametrize("question, message", [
    ("", "empty"), ("   \n\t ", "empty"), ("x" * 50_000, "50,000 characters"),
])
def test_bad_questions_get_a_clear_error(demo_pipeline, question, message):
    with pytest.raises(QuestionError, match=message):
        demo_pipeline.answer(question)


def test_scope_never_reaches_a_source_outside_it(demo_pipeline):
    answer = demo_pipeline.answer("what is the salary band for an L5 engineer", sources={"handbook"})
    assert all(p.source == "handbook" for p in answer.retrieved)
    assert all(c.source == "handbook" for c in answer.citations)
    assert "214" not in answer.text  # the private band ($172k-$214k) is never quoted


def test_only_private_sources_match_is_said_not_quoted(demo_pipeline):
    answer = demo_pipeline.answer("what's the salary band for L5", sources={"handbook"})
    assert answer.abstained and answer.reason == PRIVATE_ONLY
    assert answer.text == "" and all(p.source == "handbook" for p in answer.retrieved)
    assert all(p.source == "handbook" for p in answer.nearest)
    unscoped = demo_pipeline.answer("what's the salary band for L5")  # e.g. the terminal, a DM
    assert not unscoped.abstained and unscoped.citations[0].source == "leadership"


def test_follow_up_uses_the_previous_question(demo_pipeline):
    answer = demo_pipeline.answer("and on Linux?", history=["how do I set up the VPN client?"])
    assert not answer.abstained
    assert "openconnect" in answer.text.lower()


@pytest.mark.slow  # syncs an index with the real embedding model
def test_empty_index_says_to_sync(tmp_path):
    from bot.answering.pipeline import Pipeline
    from bot.answering.types import NO_INDEX
    from bot.config import parse_settings

    settings = parse_settings({"data_dir": "d", "tone": {"enabled": False}, "sources": [
        {"name": "w", "type": "folder", "path": "."}]}, tmp_path)
    answer = Pipeline(settings).answer("anything?")
    assert answer.abstained and answer.reason == NO_INDEX


@pytest.mark.parametrize("question, expected", [
    ("and on Linux?", True), ("what about contractors", True), ("does that apply to interns?", True),
    ("macOS?", True), ("who won the hackathon last year?", False),
    ("how many vacation days do I get per year", False),
])
def test_follow_up_detection(question, expected):
    from bot.answering.pipeline import is_follow_up

    assert is_follow_up(question) is expected


def test_a_new_question_in_the_same_session_is_not_mixed_with_the_last(demo_pipeline):
    answer = demo_pipeline.answer("who won the hackathon last year?",
                                  history=["how do I reset my VPN token?"])
    assert "vpn" not in answer.text.lower()


def test_passages_the_composer_reads_carry_their_neighbouring_chunks(demo_settings):
    from bot.answering.retrieve import Retriever, join_overlapping
    from bot.knowledge.chunking import passage_text

    retriever = Retriever(demo_settings)
    question = "How do I set up the VPN on Linux?"
    plain, expanded = retriever.search(question), retriever.search(question)
    retriever.expand(expanded, 4)
    head = {(p.source_id, p.chunk) for p in plain[:4]}
    grew = 0
    for before, after in zip(plain[:4], expanded[:4]):
        assert before.text in after.text  # the matched chunk whole, plus...
        page = retriever.collection.get(where={"$and": [{"source": before.source},
                                                        {"source_id": before.source_id}]})
        chunks = {m["chunk"]: passage_text(d) for d, m in zip(page["documents"],
                                                             page["metadatas"])}
        for n in (before.chunk - 1, before.chunk + 1):
            if n not in chunks:
                continue
            middle = chunks[n][len(chunks[n]) // 3: 2 * len(chunks[n]) // 3]
            if (before.source_id, n) in head:  # ...not a neighbour another passage carries
                assert middle not in after.text.replace(before.text, "")
            else:  # ...but every other neighbour on the page
                assert middle in after.text
                grew += 1
    assert grew >= 2  # the VPN page has several chunks: this question exercises the join
    assert [p.text for p in expanded[4:]] == [p.text for p in plain[4:]]  # only the first n
    assert join_overlapping("one two three four five six seven", "four five six seven eight") \
        == "one two three four five six seven eight"
    assert join_overlapping("alpha", "beta") == "alpha\n\nbeta"
