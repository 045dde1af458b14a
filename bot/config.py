"""ragbot.yaml as pydantic models.

Rules the loader keeps (and the tests check):
- unknown keys are errors, at every level, including each connector's own keys: a typo must not
  silently fall back to a default;
- relative paths resolve against the folder of the config file, wherever the process runs;
- every error names the key path (`sources.0.path`) and what is wrong;
- every environment override is listed in `ENV_OVERRIDES`, the one place they are read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from connectors.base import ConfigPath

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "ragbot.yaml"

# Environment variables ragbot reads, in one place. Credentials for sources are not here: each
# source names its own variable (`token_env: CONFLUENCE_TOKEN`), so the YAML never holds a secret.
ENV_OVERRIDES = {
    "RAGBOT_CONFIG": "path of the config file (default: config/ragbot.yaml)",
    "RAGBOT_DATA_DIR": "overrides `data_dir`",
    "RAGBOT_DATABASE_URL": "overrides `database_url` (postgresql://user:password@host/db keeps "
                           "the password out of the YAML)",
    "RAGBOT_CACHE_DIR": "where ONNX exports of the embedding model are kept, shared by every "
                        "data_dir (default: $XDG_CACHE_HOME/ragbot or ~/.cache/ragbot)",
    "SLACK_BOT_TOKEN": "bot token (xoxb-...)",
    "SLACK_SIGNING_SECRET": "verifies every HTTP request from Slack",
    "SLACK_APP_TOKEN": "app-level token (xapp-...); when set, `serve` uses Socket Mode",
    "SLACK_API_URL": "base URL of the Slack Web API (proxies, tests)",
    "RAGBOT_HEALTH_TOKEN": "`ragbot serve --http`: GET /healthz with `Authorization: Bearer "
                           "<token>` adds per-source details; without it only ok / not ok",
}


def cache_dir() -> Path:
    """Machine-wide cache for derived model files (keyed by the weights they come from)."""
    override = os.environ.get("RAGBOT_CACHE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ragbot"


class ConfigError(Exception):
    """The config file cannot be used; the message says which key and what to fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


MIN_SCHEDULE_INTERVAL_S = 60


class ScheduleConfig(_Section):
    """When a source syncs by itself. Times (cron fields, quiet hours) are read in
    `scheduler.timezone` (default UTC); bot/knowledge/scheduler.py builds the trigger."""

    every: str | None = Field(None, description='interval like "30m", "2h", "1d"')
    cron: str | None = Field(None, description='crontab like "0 */2 * * 1-5" (0 and 7 are Sunday)')
    quiet_hours: str | None = Field(None, description='"22:00-06:00": no scheduled run starts '
                                    "inside; a run due inside starts when the window ends")
    jitter_s: int = Field(60, ge=0, le=3600, description="each run starts up to this many "
                          "seconds late, so sources on the same schedule do not start together")

    @field_validator("every")
    @classmethod
    def _valid_every(cls, value: str | None) -> str | None:
        if value is not None:
            from bot.timefmt import parse_duration

            if parse_duration(value) < MIN_SCHEDULE_INTERVAL_S:  # ValueError names the format
                raise ValueError(f"`every: {value}` is shorter than one minute; a sync every few "
                                 "seconds only burns CPU on embedding (use e.g. \"15m\")")
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None:
            from bot.timefmt import cron_trigger

            cron_trigger(value, "UTC")  # ValueError says which field is wrong
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _valid_quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            from bot.timefmt import parse_quiet_hours

            parse_quiet_hours(value)
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> "ScheduleConfig":
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of `every` or `cron`")
        return self


_COMMON_SOURCE_KEYS = {"name", "type", "visibility", "schedule", "enabled"}


class SourceConfig(_Section):
    """Keys every source has; every other key belongs to the connector of its `type`.

    In YAML the connector's keys sit beside the common ones (`path:`, `url:`); they are gathered
    into `options` and validated by that connector's own `Options` model.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    type: str
    visibility: Literal["public", "private"] = "public"
    schedule: ScheduleConfig | None = None
    enabled: bool = True
    options: Any = None

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if "options" in data:
                raise ValueError("put the connector's keys beside `type`, not under `options`")
            data = dict(data)
            data["options"] = {k: data.pop(k) for k in list(data) if k not in _COMMON_SOURCE_KEYS}
        return data

    @field_validator("options")
    @classmethod
    def _validate_options(cls, value: Any, info: ValidationInfo) -> Any:
        from connectors.registry import connector_class

        type_name = info.data.get("type")
        if type_name is None:  # `type` itself failed; that error is reported already
            return value
        options_model = connector_class(type_name).Options  # ValueError names the known types
        try:
            return options_model.model_validate(value or {}, context=info.context)
        except ValidationError as exc:
            raise ValueError(_OPTIONS_ERROR_SEP.join(
                f"{'.'.join(map(str, e['loc']))}{_OPTIONS_LOC_SEP}{_message(e)}"
                for e in exc.errors())) from None


class IndexConfig(_Section):
    collection: str = Field("ragbot", min_length=3, max_length=63)
    chroma_url: str | None = Field(None, description="http://host:port of a Chroma server")
    embedding_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    chunk_size: int = Field(900, ge=200, le=4000)
    chunk_overlap: int = Field(120, ge=0, le=1000)
    embed_batch_size: int = Field(64, ge=1, le=1024)
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx", description="embedding runtime: onnx (onnxruntime; the torch vectors at ~0.6x "
        "the encode time; exported once from the packaged weights into the cache dir), torch "
        "(sentence-transformers) or onnx-int8 (quantized: ~0.4x, cosine ~0.99 to torch; a "
        "switch to or from it needs `ragbot sync --full`)")
    vector_cache_rows: int = Field(
        50_000, ge=0, le=10_000_000, description="onnx backends: vectors kept on disk by text "
        "beside the model's export in the cache dir (~1.6 KB each), so a full resync, a rebuild "
        "or a restarted bot re-reads what it embedded before instead of encoding it again; "
        "oldest go first; 0 turns it off")


class RetrievalConfig(_Section):
    k: int = Field(10, ge=1, le=100, description="passages returned by retrieval")
    passages: int = Field(4, ge=1, le=10, description="passages the composer reads")
    neighbours: int = Field(1, ge=0, le=3, description="chunks on each side of a passage the "
                            "composer reads that are joined to it (0: the matched chunk only)")
    min_score: float = Field(0.48, description="abstain when the answerability score (best dense "
                             "similarity + rare-term coverage bonus) is below this")
    hybrid: bool = Field(True, description="add BM25 to dense retrieval")
    dense_weight: float = Field(0.5, ge=0, le=1, description="hybrid: weight of the scaled "
                                "dense score against the scaled BM25 score (1: dense only)")
    pool: int = Field(100, ge=10, le=1000, description="candidates taken from each of dense "
                      "and BM25 before fusion (also the range the scores are scaled over)")


class LLMConfig(_Section):
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "llama3.1"
    api_key_env: str | None = None
    timeout_s: float = Field(30.0, gt=0)


class AnswerConfig(_Section):
    backend: Literal["extractive", "llm"] = "extractive"
    max_sentences: int = Field(3, ge=1, le=8)
    max_question_chars: int = Field(2000, ge=20, le=20000)
    llm: LLMConfig = LLMConfig()


class ToneConfig(_Section):
    enabled: bool = True
    backend: Literal["local", "openai"] = "local"
    adapter: ConfigPath | None = None
    timeout_s: float = Field(4.0, gt=0)
    threads: int | None = Field(None, ge=1, le=64, description="backend local: torch threads "
                                "while generating; null: every core when no other task is "
                                "running on them right now, else 1 (bench/tone_latency.py)")
    prompt_lookup_tokens: int = Field(20, ge=0, le=64, description="backend local: tokens "
                                      "proposed per step by prompt-lookup decoding; 0 turns it off")
    runtime: Literal["onnx", "torch"] = Field("onnx", description="backend local: onnx runs "
                                              "the adapter-merged model on onnxruntime-genai "
                                              "(exported once per adapter into the cache dir); "
                                              "torch runs it through transformers")
    precision: Literal["int8", "fp32"] = Field("int8", description="runtime onnx: weight "
                                               "precision of the export")
    queue_size: int = Field(8, ge=0, le=256, description="rewrites that may wait for the model "
                            "(one runs at a time); past that the draft is sent, reason "
                            "\"queue full\"")
    copy_bias: float = Field(2.0, ge=0, le=20, description="backend local: logit bonus for "
                             "continuing the draft's own wording where the rewrite is already "
                             "copying it; 0 turns it off (tone eval: 0 -> 41/46 accepted, 2 -> 44/46)")
    # backend: openai -- any OpenAI-compatible chat-completions endpoint.
    model: str | None = Field(None, description="backend openai: the fine-tuned model id "
                              "(ft:gpt-4o-mini-...:org::id) or the LoRA name vLLM serves "
                              "(--lora-modules NAME=PATH)")
    base_url: str = Field("https://api.openai.com/v1", description="backend openai: the "
                          "endpoint, e.g. http://127.0.0.1:8000/v1 for vLLM")
    api_key_env: str | None = Field("OPENAI_API_KEY", description="backend openai: environment "
                                    "variable holding the key; null for a server that wants none")

    @model_validator(mode="after")
    def _openai_needs_model(self) -> "ToneConfig":
        if self.backend == "openai" and not self.model:
            raise ValueError("`tone.backend: openai` needs `tone.model` (the fine-tuned model id "
                             "or the vLLM LoRA name)")
        return self


class DmSourcesConfig(_Section):
    """Sources a direct message may use: `users` (user id -> names) first, else `default`."""

    default: list[str] = ["*"]
    users: dict[str, list[str]] = {}


class SlackConfig(_Section):
    """Where the bot may answer from. "*" is every public source; private sources are named.

    A private source is never used in a public channel, whatever these lists say
    (bot/slack/scope.py applies the rules; `ragbot serve` refuses unknown source names).
    """

    # channel id ("C0123") or name ("#eng") -> source names that channel may use.
    channels: dict[str, list[str]] = {}
    # channels (public or private) and group DMs not listed in `channels`.
    default_sources: list[str] = ["*"]
    dm_sources: DmSourcesConfig = DmSourcesConfig()
    admin_channel: str | None = None
    private_hint_in_public: bool = Field(False, description="in a public channel, say \"the "
                                         "only pages that match are in sources that can't be "
                                         "shown here\" instead of \"not found\"; off: that "
                                         "hint tells anyone whether a confidential topic exists")
    # Reaction put on a question while it is being answered (removed when done).
    working_reaction: str = Field("hourglass_flowing_sand", pattern=r"^[a-z0-9_+'-]{1,100}$")


class AdminsConfig(_Section):
    users: list[str] = []
    workspace_admins: bool = False


class SchedulerConfig(_Section):
    """The sync scheduler (`ragbot scheduler`, or inside `ragbot serve`)."""

    timezone: str = Field("UTC", description="IANA zone (\"Europe/Berlin\") in which cron "
                          "fields and quiet hours are read")
    misfire_grace_s: int = Field(600, ge=1, description="a run that could not start within this "
                                 "many seconds of its time (process down, busy) is dropped; "
                                 "missed runs are never replayed one by one")
    alert_after_failures: int = Field(3, ge=1, description="post to `slack.admin_channel` when a "
                                      "source has failed this many times in a row")
    run_in_serve: bool = Field(True, description="false when a separate `ragbot scheduler` "
                               "worker does the syncing")
    lease_s: float = Field(30.0, ge=3, le=3600, description="the one scheduler (and each "
                           "running sync) holds a lease in the database renewed every third of "
                           "this; when its process dies, another takes over within this time")

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like "
                             "\"UTC\" or \"Europe/Berlin\"") from None
        return value


class RagvsftConfig(_Section):
    """`/ragvsft` and `ragbot ragvsft`: the decision tree (validated at start-up)."""

    tree: ConfigPath | None = Field(None, description="decision tree file; a relative path "
                                    "resolves against this config file's folder; default: the "
                                    "repo's config/ragvsft.yaml")


class Settings(_Section):
    data_dir: ConfigPath = Path(".ragbot")
    database_url: str | None = Field(None, description="postgresql://... puts every table in "
                                     "PostgreSQL (several replicas); default: SQLite in data_dir")
    sources: list[SourceConfig] = []
    index: IndexConfig = IndexConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    answer: AnswerConfig = AnswerConfig()
    tone: ToneConfig = ToneConfig()
    slack: SlackConfig = SlackConfig()
    admins: AdminsConfig = AdminsConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    ragvsft: RagvsftConfig = RagvsftConfig()
    # Where this config was read from (not a YAML key).
    config_path: Path | None = Field(None, exclude=True)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        seen: set[str] = set()
        for source in sources:
            if source.name in seen:
                raise ValueError(f"two sources are named {source.name!r}; names must be unique")
            seen.add(source.name)
        return sources

    @field_validator("database_url")
    @classmethod
    def _valid_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_url(value)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"no source named {name!r}; configured sources: {known}")


_OPTIONS_ERROR_SEP = "\n"
_OPTIONS_LOC_SEP = "\x1f"  # joins a connector key to its message inside one ValueError


def _message(err: dict[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling; README 'Configuration' lists every key)"
    return str(err["msg"]).removeprefix("Value error, ")


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not str(p).startswith("function-")]
        msg = _message(err)
        if loc and loc[-1] == "options":  # a connector's own key: show it where the user wrote it
            for part in msg.split(_OPTIONS_ERROR_SEP):
                key, _, sub = part.rpartition(_OPTIONS_LOC_SEP)
                lines.append(f"  {'.'.join(loc[:-1] + ([key] if key else []))}: {sub}")
            continue
        lines.append(f"  {'.'.join(loc) or '(top level)'}: {msg}")
    return "\n".join(lines)


def parse_settings(data: dict[str, Any], base_dir: Path, origin: str = "<config>") -> Settings:
    try:
        settings = Settings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(f"{origin} is not valid:\n{_format_errors(exc)}") from None
    override = os.environ.get("RAGBOT_DATA_DIR")
    if override:
        settings.data_dir = Path(override).expanduser().resolve()
    url = os.environ.get("RAGBOT_DATABASE_URL", "").strip()
    if url:
        try:
            settings.database_url = check_url(url)
        except ValueError as exc:
            raise ConfigError(f"RAGBOT_DATABASE_URL: {exc}") from None
    return settings


def check_data_dir(path: Path) -> None:
    """Create `data_dir` if needed and prove it writable (a probe file: permission bits say
    nothing for root or a read-only mount); ConfigError in one line naming the path and the fix.

    Without this a read-only or impossible data_dir surfaced as a 486-line traceback ending in
    SQLite's "unable to open database file", which names neither the folder nor the key."""
    fix = ("set `data_dir` in the config (or RAGBOT_DATA_DIR) to a folder this user can write, "
           "or fix that folder's permissions")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        raise ConfigError(f"data_dir {path} cannot be used: {reason}{where}; {fix}") from None


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate a config file (default: $RAGBOT_CONFIG or config/ragbot.yaml)."""
    path = Path(path or os.environ.get("RAGBOT_CONFIG") or DEFAULT_CONFIG).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist (pass --config FILE)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys (data_dir, sources, ...)")
    settings = parse_settings(data, path.resolve().parent, str(path))
    settings.config_path = path.resolve()
    return settings


DATABASE_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")


def check_url(url: str) -> str:
    """`url` if ragbot can use it; a ValueError naming what to write otherwise."""
    from sqlalchemy.engine import make_url  # only when a database_url is given

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - SQLAlchemy's ArgumentError names no fix
        raise ValueError("database_url must look like postgresql://user@host:5432/dbname or "
                         "sqlite:////abs/path/ragbot.sqlite") from None
    if parsed.drivername not in DATABASE_DRIVERS:
        raise ValueError(f"database_url {parsed.render_as_string(hide_password=True)!r}: only "
                         "postgresql://... (psycopg 3) or sqlite:///... are supported")
    return url
