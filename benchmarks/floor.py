"""The floor of any Typer CLI: a one-command app that prints a line."""

import typer

app = typer.Typer()


@app.command()
def main() -> None:
    print("hello")


if __name__ == "__main__":
    app()
