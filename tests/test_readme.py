"""The README tells the truth about the surface: its two opening commands,
every command, and the test command CI runs."""

from pathlib import Path

from revops.commands import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    head = README[:800]
    assert "pip install -e . && revops-sim run" in head
    assert "pip install -e '.[test]' && pytest -q" in head


def test_ci_runs_exactly_the_readme_test_command():
    assert "pip install -e '.[test]' && pytest -q" in (ROOT / ".ci" / "run").read_text()


def test_every_command_is_documented():
    missing = [c.name for c in COMMANDS if not c.dev and f"`{c.name}" not in README]
    assert not missing, f"README lacks: {missing}"
