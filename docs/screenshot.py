"""Write docs/browse.svg, the README's picture of `evollm browse`: the shipped knowledge base at
100x30, in colour, on GPT-3 with its links. Run by hand after a change to the app's look:

    python docs/screenshot.py
"""

import asyncio
import os
from pathlib import Path

OUT = Path(__file__).resolve().parent / "browse.svg"


async def main() -> None:
    os.environ.pop("NO_COLOR", None)  # the picture is in colour
    from evollm.browse.app import BrowseApp
    from evollm.kb import load_knowledge_base

    app = BrowseApp(load_knowledge_base(), focus="gpt-3")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.save_screenshot(filename=OUT.name, path=str(OUT.parent))


if __name__ == "__main__":
    asyncio.run(main())
    print(f"wrote {OUT}")
