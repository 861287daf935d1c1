"""The README's command reference is generated from the CLI itself and must stay in step.

    python tests/test_readme.py --update    # rewrite the block after changing a command
"""

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- commands -->\n)(.*?)(<!-- /commands -->)", re.S)


def command_reference() -> str:
    import typer.main

    from evollm.cli import app

    group = typer.main.get_command(app)
    rows = []

    def walk(command, prefix: str) -> None:
        for name in command.list_commands(None):
            sub = command.get_command(None, name)
            if hasattr(sub, "list_commands"):
                walk(sub, f"{prefix} {name}")
                continue
            pieces = " ".join(param._usage_display_name() for param in sub.params
                              if param.param_type_name == "argument")
            summary = (sub.help or "").strip().split("\n")[0]
            usage = f"{prefix} {name} {pieces}".strip().replace("{", "").replace("}", "")
            rows.append(f"| `{usage}` | {summary} |")

    walk(group, "evollm")
    return "| command | what it does |\n|---|---|\n" + "\n".join(rows) + "\n"


def test_readme_lists_every_command_with_its_help():
    match = BLOCK.search(README.read_text(encoding="utf-8"))
    assert match, "README.md lacks the <!-- commands --> block"
    assert match.group(2) == command_reference(), "run: python tests/test_readme.py --update"


KEYS = re.compile(r"(<!-- browse-keys -->\n)(.*?)(<!-- /browse-keys -->)", re.S)


def browse_keys() -> str:
    from evollm.browse.app import BrowseApp

    rows = [f"| `{keys}` | {what} |" for keys, what in BrowseApp.help_rows()]
    return "| key | what it does |\n|---|---|\n" + "\n".join(rows) + "\n"


def test_readme_lists_every_key_of_browse_as_its_help_does():
    match = KEYS.search(README.read_text(encoding="utf-8"))
    assert match, "README.md lacks the <!-- browse-keys --> block"
    assert match.group(2) == browse_keys(), "run: python tests/test_readme.py --update"


def test_readme_gives_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert "pip install -e . && evollm timeline 2019" in text
    assert "pip install -e '.[test]' && pytest" in text


EXAMPLES = {  # README block name -> the command whose real output it shows (not checked by tests)
    "timeline": "timeline 2019",
    "show": "show ppo",
    "tree": "tree --family bert",
    "path": "path transformer mixtral",
    "demo": "demo rope",
}


def example_output(args: str) -> str:
    import os
    import subprocess

    env = {**os.environ, "COLUMNS": "90", "NO_COLOR": "1", "TERM": "dumb"}
    out = subprocess.run([sys.executable, "-m", "evollm", *args.split()], capture_output=True, text=True, env=env)
    return f"$ evollm {args}\n{out.stdout.rstrip()}\n"


if __name__ == "__main__" and "--update" in sys.argv:
    text = README.read_text(encoding="utf-8")
    text = BLOCK.sub(lambda m: m.group(1) + command_reference() + m.group(3), text)
    text = KEYS.sub(lambda m: m.group(1) + browse_keys() + m.group(3), text)
    for name, args in EXAMPLES.items():
        pattern = re.compile(rf"(<!-- example:{name} -->\n```\n)(.*?)(```\n<!-- /example:{name} -->)", re.S)
        text = pattern.sub(lambda m, a=args: m.group(1) + example_output(a) + m.group(3), text)
    README.write_text(text, encoding="utf-8")
