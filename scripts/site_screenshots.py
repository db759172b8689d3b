"""Screenshots of a report's static site in headless Chromium (Debian's ``chromium``, through Playwright):
the leaderboard's first screen, and the posterior pictures of a task page.

    python scripts/site_screenshots.py results/paper/site docs/img --task two_moons

Writes ``OUT/site_leaderboard.png`` and ``OUT/site_task_TASK.png`` (1280 x 900 pixels each) and exits 1 if
a page logs a console error, a request fails or an image is not decoded.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from fmbench.report.markup import page_name
from fmbench.report.site import CHROMIUM_FLAGS


def shoot(page: Page, path: Path, out: Path, anchor: str | None = None) -> list[str]:
    """Opens ``path``, scrolls to ``anchor`` (a CSS selector) if given, saves the screen into ``out``;
    returns the problems seen (console errors, failed requests, undecoded images)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
    page.goto(path.resolve().as_uri(), wait_until="load")
    problems += page.evaluate("Array.from(document.images).filter(i => !i.naturalWidth).map(i => i.src)")
    if anchor:
        page.locator(anchor).first.scroll_into_view_if_needed()
    page.screenshot(path=str(out))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the site folder (REPORT/site)")
    parser.add_argument("out", type=Path, help="where the screenshots go")
    parser.add_argument("--task", default="two_moons", help="the task page to show (default: two_moons)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        print("site_screenshots.py: no chromium on the PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    problems = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems += shoot(page, args.site / "index.html", args.out / "site_leaderboard.png")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        task = args.site / page_name("task", args.task)
        problems += shoot(
            page, task, args.out / f"site_task_{args.task}.png", "h2:text('Posterior pictures')"
        )
        browser.close()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"screenshots in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
