"""The floor of any Textual app: a line of text and a footer, the smallest thing browse could be."""

from textual.app import App
from textual.widgets import Footer, Static


class Floor(App):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self):
        yield Static("hello from the floor")
        yield Footer()


if __name__ == "__main__":
    Floor().run()
