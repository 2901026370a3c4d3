"""`llmfit update`: read the most-downloaded text-generation repos of the main publishers from
the Hub and store them in the user catalog (never the shipped models.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from llmfit.errors import LlmfitError, UsageError

# Organisations whose open models people run most (configurable with --publisher).
DEFAULT_PUBLISHERS = ("Qwen", "meta-llama", "google", "mistralai", "microsoft", "deepseek-ai",
                      "openai", "ibm-granite", "allenai", "HuggingFaceTB", "nvidia", "zai-org",
                      "moonshotai", "CohereLabs", "tiiuae", "LiquidAI")


@dataclass
class UpdateReport:
    """What an update did."""

    added: int = 0
    refreshed: int = 0
    in_catalog: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        from llmfit.paths import user_catalog_path

        return (f"{self.added} added, {self.refreshed} refreshed, {self.in_catalog} already "
                f"curated, {len(self.problems)} skipped; user catalog: {user_catalog_path()}")


def collect_rows(publishers: list[str], per_publisher: int, refresh: bool, curated: set[str],
                 step: Callable[[str], None] = lambda _: None,
                 found: Callable[[int], None] = lambda _: None) -> tuple[list[dict[str, Any]], UpdateReport]:
    """Catalog rows for the publishers' top repos (curated names are left to the catalog)."""
    from llmfit.catalog import parse_row
    from llmfit.hf_config import row_from_config
    from llmfit.hub import ORG, check_reachable, fetch_repo, list_top_repos

    bad = [p for p in publishers if not ORG.match(p)]
    if bad:
        raise UsageError(f"{bad[0]!r} is not a Hub organisation name")
    check_reachable()
    report, rows = UpdateReport(), []
    repos: list[str] = []
    for author in publishers:
        try:
            repos += list_top_repos(author, per_publisher)
        except LlmfitError as exc:
            report.problems.append(f"{author}: {exc}")
    found(len(repos))
    for repo in repos:
        step(repo)
        if repo.lower() in curated:
            report.in_catalog += 1
            continue
        try:
            data = fetch_repo(repo, refresh=refresh)
            row = row_from_config(repo, data["config"], data.get("meta") or {})
            parse_row(row)
            rows.append(row)
        except LlmfitError as exc:
            report.problems.append(str(exc))
    return rows, report


def run_update(publishers: list[str], per_publisher: int, refresh: bool) -> UpdateReport:
    """Fetch with a progress bar on stderr, then store the rows in the user catalog."""
    from rich.console import Console
    from rich.progress import Progress

    from llmfit.catalog import builtin_catalog_path, read_catalog_file
    from llmfit.user_catalog import add_rows, read_user_rows

    curated = {m.name.lower() for m in read_catalog_file(builtin_catalog_path())}
    before = {r["name"].lower() for r in read_user_rows()}
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("Reading the Hub", total=None)

        def step(repo: str) -> None:
            progress.update(task, description=f"Reading {repo}", advance=1)

        rows, report = collect_rows(publishers, per_publisher, refresh, curated, step,
                                    lambda n: progress.update(task, total=n))
    if rows:
        add_rows(rows)
    report.added = sum(r["name"].lower() not in before for r in rows)
    report.refreshed = len(rows) - report.added
    return report
