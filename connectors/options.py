"""What connectors share in their set-up: option types that validate themselves, and the client.

- `BaseUrl` / `Globs`: option field types with their validators attached (the key's name goes
  into the message), instead of one `field_validator` per connector;
- `open_client`: the `HttpClient` of a connector, with its `timeout_s` / `max_attempts`, and the
  credential header built from `token_env` (credentials never live in the YAML).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo

from connectors.base import Connector
from connectors.http import HttpClient, check_http_url


def _base_url(value: str, info: ValidationInfo) -> str:
    return check_http_url(value, info.field_name or "url")


def check_globs(globs: list[str], key: str) -> list[str]:
    cleaned = [g.strip() for g in globs]
    if any(not g for g in cleaned):
        raise ValueError(f"`{key}` holds an empty glob")
    return cleaned


def _globs(value: list[str], info: ValidationInfo) -> list[str]:
    return check_globs(value, info.field_name or "paths")


BaseUrl = Annotated[str, AfterValidator(_base_url)]  # http(s) with a host, no trailing slash
Globs = Annotated[list[str], AfterValidator(_globs)]  # no empty glob


def bearer(connector: Connector, token_env: str | None, *, required: bool = True,
           what: str = "token") -> dict[str, str]:
    """`Authorization: Bearer <token from token_env>`; {} when optional and not configured."""
    if not token_env and not required:
        return {}
    return {"Authorization": f"Bearer {connector.require_env(token_env, what)}"}


def open_client(connector: Connector, service: str, *, headers: Mapping[str, str] = (),
                auth_env: str | None = None, **kwargs: Any) -> HttpClient:
    """The connector's HTTP client, with its options' timeout and retry budget."""
    opts = connector.options
    return HttpClient(source_name=connector.context.source_name, service=service,
                      auth_env=auth_env, timeout_s=opts.timeout_s,
                      max_attempts=opts.max_attempts, headers=headers, **kwargs)
