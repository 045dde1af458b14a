"""`ragbot audit`: the `/ragadmin` audit log in the terminal (a table, or JSON with --json)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.config import Settings
from bot.knowledge.index import Index
from bot import records as store


def audit_rows(settings: Settings, limit: int) -> list[dict]:
    rows = store.audit_log(Index(settings).engine, limit=limit)
    for row in rows:
        for key in ("at", "finished_at"):
            row[key] = row[key].isoformat() if row[key] else None
    return rows


def print_audit(console: Console, settings: Settings, limit: int, as_json: bool) -> None:
    rows = audit_rows(settings, limit)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("No /ragadmin commands recorded yet.")
        return
    table = Table(title=f"/ragadmin audit log (latest {len(rows)}, newest first)")
    for col in ("when (UTC)", "who", "where", "command", "allowed", "result"):
        table.add_column(col, no_wrap=col in {"when (UTC)", "who", "command", "allowed"})
    for r in rows:
        who = r["user"] + (f" ({r['user_name']})" if r.get("user_name") else "")
        result = escape(r["result"]) + ("" if r["finished_at"] else " [dim](running)[/dim]")
        table.add_row(r["at"][:19].replace("T", " "), escape(who), escape(r.get("channel") or ""),
                      escape(r["command"]),
                      "[green]yes[/green]" if r["allowed"] else "[red]no[/red]", result)
    console.print(table, highlight=False)
