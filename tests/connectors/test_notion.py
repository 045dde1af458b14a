from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.config import ConfigError, parse_settings
from connectors.base import AuthError, ListingIncompleteError, SourceUnavailableError
from connectors.notion import normalize_id, rich_text
from fake_sources import FakeNotion, iso
from tests.connectors.helpers import listing, partial

T0 = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2024, 2, 20, 15, 30, tzinfo=timezone.utc)
DB = "11111111-1111-1111-1111-111111111111"
HANDBOOK = "22222222-2222-2222-2222-222222222222"
CHILD = "33333333-3333-3333-3333-333333333333"


def pid(n: int) -> str:
    return f"aaaaaaaa-0000-0000-0000-{n:012d}"


@pytest.fixture
def notion(serve, monkeypatch) -> FakeNotion:
    monkeypatch.setenv("NOTION_TOKEN", "secret_tok")
    fake = serve(FakeNotion())
    b = FakeNotion.block
    for n in range(1, 4):  # 3 database pages, 2 per query page -> cursor pagination
        fake.add_page(pid(n), f"Policy {n}", T0, [b(f"p{n}-1", "paragraph", f"Policy text {n}.")],
                      database=DB)
    bullet = b("h-4", "bulleted_list_item", "Laptop")
    table = b("h-9", "table", table_width=2, has_column_header=True, has_row_header=False)
    fake.add_page(HANDBOOK, "Handbook", T0, [
        b("h-1", "heading_1", "Welcome"),
        {**b("h-2", "paragraph"), "paragraph": {"rich_text": [
            FakeNotion.text("Read the "), FakeNotion.text("rules", bold=True),
            FakeNotion.text(" and "), FakeNotion.text("run", code=True), FakeNotion.text(".")]}},
        b("h-3", "heading_2", "Checklist"),
        bullet,
        b("h-5", "to_do", "Sign the NDA", checked=True),
        b("h-6", "numbered_list_item", "Step one"),
        b("h-7", "numbered_list_item", "Step two"),
        b("h-8", "code", "make setup", language="bash"),
        table,
        b("h-10", "quote", "Be kind."),
        b("h-11", "callout", "Ask in #help.", icon={"type": "emoji", "emoji": "💡"}),
        {"object": "block", "id": CHILD, "type": "child_page", "has_children": True,
         "child_page": {"title": "Travel"}},
    ])
    fake.set_children(bullet, [b("h-4a", "bulleted_list_item", "Charger")])
    fake.set_children(table, [
        b("r1", "table_row", cells=[[FakeNotion.text("Tool")], [FakeNotion.text("Owner")]]),
        b("r2", "table_row", cells=[[FakeNotion.text("Slack")], [FakeNotion.text("IT")]])])
    fake.add_page(CHILD, "Travel", T0, [b("c-1", "paragraph", "Book trains early.")])
    return fake


def options(fake: FakeNotion, **extra) -> dict:
    return {"token_env": "NOTION_TOKEN", "database_ids": [DB.replace("-", "")],
            "page_ids": [f"https://www.notion.so/Handbook-{HANDBOOK.replace('-', '')}?pvs=4"],
            "base_url": fake.url, **extra}


def test_first_listing(connect, notion) -> None:
    docs = listing(connect("notion", **options(notion)))
    assert set(docs) == {pid(1), pid(2), pid(3), HANDBOOK, CHILD}
    assert docs[pid(2)].title == "Policy 2" and docs[pid(2)].content == "Policy text 2."
    handbook = docs[HANDBOOK]
    assert handbook.title == "Handbook"
    assert handbook.url == f"https://www.notion.so/{HANDBOOK.replace('-', '')}"
    assert handbook.updated_at == T0
    assert handbook.content == (
        "# Welcome\n\n"
        "Read the **rules** and `run`.\n\n"
        "## Checklist\n\n"
        "- Laptop\n  - Charger\n"
        "- [x] Sign the NDA\n"
        "1. Step one\n2. Step two\n\n"
        "```bash\nmake setup\n```\n\n"
        "| Tool | Owner |\n| --- | --- |\n| Slack | IT |\n\n"
        "> Be kind.\n\n"
        "> 💡 Ask in #help.")
    assert docs[CHILD].content == "Book trains early."  # a sub-page is its own document
    queries = [r for r in notion.requests if r.path.endswith("/query")]
    assert [q.json().get("start_cursor") for q in queries] == [None, "2"]
    assert all(r.headers["notion-version"] == "2022-06-28" for r in notion.requests)
    # handbook has 12 blocks, 2 per reply -> 6 block-children requests for its top level
    top = [r for r in notion.requests if r.path == f"/v1/blocks/{HANDBOOK}/children"]
    assert len(top) == 6


def test_edited_and_deleted_pages(connect, notion) -> None:
    listing(connect("notion", **options(notion)))
    notion.set_blocks(pid(1), [FakeNotion.block("p1-new", "paragraph", "Policy text, revised.")])
    notion.pages[pid(1)]["last_edited_time"] = iso(T1)
    notion.pages[pid(2)]["archived"] = True
    notion.pages[CHILD]["in_trash"] = True
    docs = listing(connect("notion", **options(notion)))
    assert set(docs) == {pid(1), pid(3), HANDBOOK}
    assert docs[pid(1)].content == "Policy text, revised." and docs[pid(1)].updated_at == T1


def test_401_is_auth_error(connect, notion, monkeypatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", "secret_revoked")
    with pytest.raises(AuthError, match="NOTION_TOKEN"):
        listing(connect("notion", **options(notion)))


def test_500_mid_listing_raises(connect, notion) -> None:
    notion.fail(500, f"/v1/blocks/{pid(3)}/children")
    got = partial(connect("notion", **options(notion)), ListingIncompleteError)
    assert [d.source_id for d in got] == [pid(1), pid(2)]


def test_429_with_retry_after_is_waited_out(connect, notion) -> None:
    notion.fail(429, lambda r: r.path.endswith("/query") and "start_cursor" in r.json(),
                headers={"Retry-After": "0"}, body={"object": "error", "code": "rate_limited"})
    assert len(listing(connect("notion", **options(notion)))) == 5


def test_page_not_shared_is_unavailable(connect, notion) -> None:
    with pytest.raises(SourceUnavailableError, match="shared with the integration"):
        listing(connect("notion", **options(notion, database_ids=[],
                                            page_ids=["9" * 32])))


def test_rich_text_links_and_marks() -> None:
    t = FakeNotion.text
    link = {**t("docs"), "href": "https://example.com"}
    assert rich_text([t("a "), t("b ", italic=True), t("c", strikethrough=True), link]) == \
        "a *b* ~~c~~[docs](https://example.com)"


def test_config_keys(tmp_path) -> None:
    settings = parse_settings({"sources": [{"name": "n", "type": "notion", "token_env": "NT",
                                            "database_ids": [DB]}]}, tmp_path)
    assert settings.sources[0].options.base_url == "https://api.notion.com"
    assert normalize_id(DB.replace("-", "").upper()) == DB
    for bad, message in [({}, "database_ids"), ({"page_ids": ["not-an-id"]}, "Notion id"),
                         ({"database_ids": [DB], "base_url": "api.notion.com"}, "http")]:
        with pytest.raises(ConfigError, match=message):
            parse_settings({"sources": [{"name": "n", "type": "notion", "token_env": "NT",
                                         **bad}]}, tmp_path)
