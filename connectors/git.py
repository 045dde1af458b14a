"""A git repository of Markdown / text / HTML pages: cloned once, then fetched and hard-reset.

LangChain's GitLoader is not reused: it never fetches an existing clone (edits would never arrive)
and prints-and-continues on a file it cannot read, which would make a partial listing look like
deletions; the page rules are the folder connector's (`connectors.folder.read_pages`).

- The clone lives in `state_dir/checkout` and is ours alone: every sync fetches, resets hard to
  `origin/<branch>` and cleans, so local changes never leak into the index. The configured repo,
  local path or URL, is never written to.
- updated_at: front matter `updated` if any, else the time of the last commit that touched the
  file, from one `git log --name-only` pass over the history (a fresh clone's mtimes say nothing).
- Clone failure -> SourceUnavailableError; fetch failure -> ListingIncompleteError; neither
  deletes anything.
- Ids-only listing: fetch + reset, then the blob id of every page (`git ls-files -s`) is its
  marker; fetch by id reads only the changed files (and pays for the history pass only then).
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import git
from pydantic import Field, TypeAdapter, ValidationInfo, field_validator

from connectors.base import (ConfigPath, Connector, ConnectorOptions, ListedId,
                             ListingIncompleteError, SourceDocument, SourceUnavailableError)
from connectors.folder import list_page_ids, read_pages
from connectors.options import Globs

_REMOTE_SCHEMES = {"https", "http", "ssh", "git", "file"}
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@github.com:team/wiki.git
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)[\w./-]+$")


def check_url_template(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"`url` must be an http(s) URL template such as "
                         f"'https://git.example.com/wiki/blob/main/{{path}}', got {value!r}")
    return value


class GitOptions(ConnectorOptions):
    repo: str = Field(description="clone URL (https, ssh, git@host:path, file) or a local path")
    branch: str | None = Field(None, description="default: the remote's default branch")
    include: Globs = Field(["*"], description="globs on the path; `*` crosses folders; only "
                                              "Markdown/text/HTML pages are ever read")
    exclude: Globs = []
    url: str | None = None  # "https://git.example.com/team/wiki/blob/main/{path}"
    token_env: str | None = Field(None, description="env var with a token for https clones")
    token_user: str = "x-access-token"  # GitHub; GitLab wants "oauth2"
    timeout_s: float = Field(300.0, gt=0, le=3600, description="per clone / fetch")

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not value:
            raise ValueError("`repo` is empty; give a clone URL or a local path")
        if "://" in value:
            scheme = value.split("://", 1)[0].lower()
            if scheme not in _REMOTE_SCHEMES:
                raise ValueError(f"`repo` URL scheme {scheme!r} is not supported; use one of "
                                 f"{', '.join(sorted(_REMOTE_SCHEMES))}")
            return value
        if _SCP_LIKE.match(value):
            return value
        if re.match(r"^[A-Za-z][\w+.-]*::", value):  # git's "ext::cmd" transports run programs
            raise ValueError(f"`repo` transport {value.split('::')[0]!r}:: is not supported "
                             "(URL scheme must be one of "
                             f"{', '.join(sorted(_REMOTE_SCHEMES))})")
        if value.startswith("-"):
            raise ValueError("`repo` must not start with '-'")
        return str(TypeAdapter(ConfigPath).validate_python(value, context=info.context))

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        if value is not None and not _BRANCH.match(value):
            raise ValueError(f"`branch` {value!r} is not a valid branch name")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_url_template(value)


def included(source_id: str, include: list[str]) -> bool:
    return any(fnmatch.fnmatch(source_id, pattern) for pattern in include)


class GitConnector(Connector):
    type = "git"
    Options = GitOptions
    options: GitOptions

    @property
    def checkout(self) -> Path:
        return self.context.state_dir / "checkout"

    def _env(self) -> dict[str, str]:
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}
        if self.options.token_env:
            token = self.require_env(self.options.token_env, "token")
            basic = base64.b64encode(f"{self.options.token_user}:{token}".encode()).decode()
            # Passed through the environment, so the token is never written to .git/config.
            env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                       GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}")
        return env

    def _run(self, cwd: Path | None, *args: str) -> str:
        runner = git.Git(str(cwd) if cwd else None)
        return runner.execute(["git", *args], env=self._env(),
                              kill_after_timeout=self.options.timeout_s)

    def _describe(self, exc: git.GitCommandError) -> str:
        stderr = (exc.stderr or "").strip().replace("\n", " ")
        stderr = re.sub(r"^stderr:\s*", "", stderr).strip("' ")
        return stderr or f"git exited with {exc.status}"

    def update_checkout(self) -> Path:
        """Clone or fetch, then reset hard to the remote branch; return the checkout folder."""
        name, repo = self.context.source_name, self.options.repo
        self.context.state_dir.mkdir(parents=True, exist_ok=True)
        checkout = self.checkout
        try:
            current = (self._run(checkout, "config", "--get", "remote.origin.url").strip()
                       if (checkout / ".git").is_dir() else None)
        except git.GitCommandError:
            current = None
        try:
            if current == repo:
                try:
                    self._run(checkout, "fetch", "--prune", "--no-tags", "--quiet", "origin")
                except git.GitCommandError as exc:
                    raise ListingIncompleteError(
                        f"source {name!r}: cannot fetch {repo}: {self._describe(exc)}; nothing "
                        "was deleted") from exc
            else:
                self._clone(checkout)
            target = f"origin/{self.options.branch}" if self.options.branch else "origin/HEAD"
            try:
                self._run(checkout, "rev-parse", "--verify", "--quiet", f"{target}^{{commit}}")
            except git.GitCommandError as exc:
                raise SourceUnavailableError(
                    f"source {name!r}: branch {self.options.branch or '(default)'} not found in "
                    f"{repo}; check `branch`") from exc
            self._run(checkout, "reset", "--hard", "--quiet", target)
            self._run(checkout, "clean", "-ffdxq")
        except git.GitCommandNotFound as exc:
            raise SourceUnavailableError(f"source {name!r}: the git program is not installed") \
                from exc
        except git.GitCommandError as exc:
            raise ListingIncompleteError(f"source {name!r}: git failed in the checkout of {repo}: "
                                         f"{self._describe(exc)}; nothing was deleted") from exc
        return checkout

    def _clone(self, checkout: Path) -> None:
        """Clone into a temporary folder and rename, so a failed clone leaves nothing behind."""
        tmp = checkout.with_name(checkout.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            # core.symlinks=false: a link in the repo becomes a small text file, so a hostile
            # repository cannot make us index files from this machine (/etc/passwd).
            self._run(None, "clone", "--quiet", "--no-tags", "-c", "core.symlinks=false", "--",
                      self.options.repo, str(tmp))
        except git.GitCommandError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SourceUnavailableError(
                f"source {self.context.source_name!r}: cannot clone {self.options.repo}: "
                f"{self._describe(exc)}; check `repo` (and `token_env` for a private "
                "repository)") from exc
        shutil.rmtree(checkout, ignore_errors=True)
        os.replace(tmp, checkout)

    def commit_times(self, checkout: Path) -> dict[str, int]:
        """path -> commit time (unix) of the last commit touching it, in one pass over history."""
        out = self._run(checkout, "-c", "core.quotepath=off", "log", "--format=%x1f%ct",
                        "--name-only", "--no-renames", "HEAD")
        times: dict[str, int] = {}
        current = 0
        for line in out.splitlines():
            if line.startswith("\x1f"):
                current = int(line[1:] or 0)
            elif line and line not in times:
                times[line] = current
        return times

    def _stamp_commit_times(self, checkout: Path) -> None:
        """Set each file's mtime to its last commit time, which `read_pages` then reports."""
        try:
            times = self.commit_times(checkout)
        except (git.GitCommandError, ValueError):
            return  # mtimes then stand in; not a reason to fail the listing
        for path, when in times.items():
            try:
                os.utime(checkout / path, (when, when), follow_symlinks=False)
            except OSError:
                continue  # not in HEAD's tree any more (deleted or renamed)

    def blob_ids(self, checkout: Path) -> dict[str, str]:
        """path -> blob id of every file in the index (what HEAD holds after the reset)."""
        out = self._run(checkout, "-c", "core.quotepath=off", "ls-files", "-s", "-z")
        blobs = {}
        for entry in out.split("\0"):
            meta, _, path = entry.partition("\t")
            if path:
                blobs[path] = meta.split(" ")[1]
        return blobs

    def list_documents(self) -> Iterator[SourceDocument]:
        checkout = self.update_checkout()
        yield from self._read(checkout, None)

    def list_ids(self, known: Mapping[str, str]) -> Iterator[ListedId]:
        checkout = self.update_checkout()
        self.blobs = self.blob_ids(checkout)
        include = self.options.include
        try:
            for item in list_page_ids(self, checkout, self.options.exclude, self.blobs):
                if included(item.source_id, include):
                    yield item
        finally:
            self.skipped = [s for s in self.skipped if included(s.source_id, include)]

    def fetch_documents(self, source_ids: Sequence[str]) -> Iterator[SourceDocument]:
        yield from self._read(self.checkout, set(source_ids))

    def _read(self, checkout: Path, only: set[str] | None) -> Iterator[SourceDocument]:
        self._stamp_commit_times(checkout)
        blobs = self.blob_ids(checkout)
        include = self.options.include
        try:
            for doc in read_pages(self, checkout, self.options.exclude, self.options.url,
                                  only=only, marker=blobs):
                if included(doc.source_id, include):
                    yield doc
        finally:
            self.skipped = [s for s in self.skipped if included(s.source_id, include)]
