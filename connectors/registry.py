"""`type:` in a source's config -> its connector class, imported only when used.

Lazy import keeps `ragbot ask` from importing HTTP clients and git for sources it never syncs.
"""

from __future__ import annotations

import importlib

from connectors.base import Connector

_CONNECTORS: dict[str, str] = {
    "folder": "connectors.folder:FolderConnector",
    "git": "connectors.git:GitConnector",
    "web": "connectors.web:WebConnector",
    "confluence": "connectors.confluence:ConfluenceConnector",
    "notion": "connectors.notion:NotionConnector",
    "github": "connectors.github:GitHubConnector",
}


def known_types() -> list[str]:
    return sorted(_CONNECTORS)


def connector_class(type_name: str) -> type[Connector]:
    try:
        target = _CONNECTORS[type_name]
    except KeyError:
        raise ValueError(f"unknown source type {type_name!r}; known types: "
                         f"{', '.join(known_types())}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)
