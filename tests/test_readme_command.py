"""The CI runs exactly the test command the README gives a user."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readmes_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("Set up and run the tests:", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    (command,) = block.splitlines()
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci == [command]
    assert "scripts/setup_browser.sh" in command
