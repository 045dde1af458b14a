from connectors.base import SourceDocument
from bot.knowledge.chunking import chunk_document, passage_text

PAGE = """# VPN

Intro paragraph about the VPN. See [the portal](https://vpn.example/portal) for details.

## Client setup

### Linux

Install openconnect with your package manager.

### macOS

""" + "Download GlobalProtect from the portal and sign in with SSO. " * 40


def chunks():
    return chunk_document(SourceDocument("it/vpn.md", "VPN", PAGE, url="https://w/it/vpn.md"),
                          "handbook", chunk_size=400, chunk_overlap=50)


def test_each_chunk_knows_title_heading_path_and_page():
    docs = chunks()
    linux = next(d for d in docs if "openconnect" in d.page_content)
    assert linux.metadata["headings"] == "VPN > Client setup > Linux"
    assert linux.page_content.startswith("VPN > Client setup > Linux\n\n")
    assert passage_text(linux.page_content) == "Install openconnect with your package manager."
    assert {d.metadata["source_id"] for d in docs} == {"it/vpn.md"}
    assert {d.metadata["source"] for d in docs} == {"handbook"}
    assert [d.metadata["chunk"] for d in docs] == list(range(len(docs)))


def test_long_sections_are_split_within_the_size_bound():
    mac = [d for d in chunks() if d.metadata["headings"].endswith("macOS")]
    assert len(mac) > 3
    assert all(len(passage_text(d.page_content)) <= 400 for d in mac)


def test_link_targets_are_dropped_but_link_text_kept():
    intro = chunks()[0]
    assert "the portal for details" in intro.page_content
    assert "https://vpn.example/portal" not in intro.page_content


def test_a_title_only_page_still_has_one_chunk():
    docs = chunk_document(SourceDocument("empty.md", "Empty page", ""), "s", 400, 50)
    assert len(docs) == 1 and docs[0].metadata["title"] == "Empty page"
