"""The console script: skips registering the command groups a core listing does not need."""

from __future__ import annotations

import sys

# Commands that need only llmfit/cli.py itself; anything else (or --help) loads every group.
CORE_COMMANDS = frozenset({"top", "models", "search", "system"})


def _first_command(argv: list[str]) -> str | None:
    """The first word that is not an option or an option's value (None: plain `llmfit`)."""
    from llmfit.cli_app import GLOBAL_VALUE_OPTIONS

    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word.startswith("-"):
            if word in ("-h", "--help"):
                return "--help"
            skip = word in GLOBAL_VALUE_OPTIONS and "=" not in word
        else:
            return word
    return None


def main() -> None:
    """Run the CLI; `llmfit top` and friends start without building the other command groups."""
    import llmfit.cli_app as shared

    command = _first_command(sys.argv[1:])
    shared.LEAN_START = command is None or command in CORE_COMMANDS
    from llmfit.cli import main as run

    run()
