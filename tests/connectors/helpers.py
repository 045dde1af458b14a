"""Small helpers shared by the connector tests."""

from __future__ import annotations

import pytest

from connectors.base import Connector, SourceDocument


def listing(connector: Connector) -> dict[str, SourceDocument]:
    docs: dict[str, SourceDocument] = {}
    for doc in connector.list_documents():
        assert doc.source_id not in docs, f"{doc.source_id} listed twice"
        docs[doc.source_id] = doc
    return docs


def partial(connector: Connector, error: type[Exception]) -> list[SourceDocument]:
    """The documents yielded before `error` was raised (proves the failure came mid-listing)."""
    got: list[SourceDocument] = []
    with pytest.raises(error):
        for doc in connector.list_documents():
            got.append(doc)
    return got
