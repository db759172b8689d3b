"""The static site (``fmbench report OUT DIR --site``), built from a toy grid merged with a second folder,
checked as files and in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Where Chromium or Playwright is missing, the browser test is skipped with a message saying which; it never
passes without a browser.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fmbench.cli import main
from fmbench.report.markup import page_name
from fmbench.report.site import CHROMIUM_FLAGS
from fmbench.report.site_tables import mean_ranks


def _run(out: Path, *extra: str) -> None:
    argv = [
        *("run", "--tasks", "toy_gaussian", "--observations", "1-2", "--num-samples", "300"),
        *("--coverage-pairs", "0", "--out", str(out), "--no-progress", *extra),
    ]
    assert main(argv) == 0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site of a toy grid (toy_exact and toy_slow at 200 and 400 simulations, seed 1; toy_slow's
    400 cell without its draws) merged with a folder ``mine`` holding toy_exact with other settings at
    200, seed 1 (its column: ``toy_exact@mine``), written by ``fmbench report paper mine --to board
    --site``."""
    root = tmp_path_factory.mktemp("site")
    _run(root / "paper", "--methods", "toy_exact", "toy_slow", "--budgets", "200", "400", "--seeds", "1")
    mine = ("--methods", "toy_exact", "--budgets", "200", "--seeds", "1", "--set", "toy_exact.scale=2")
    _run(root / "mine", *mine)
    for old in (root / "paper" / "draws" / "toy_gaussian" / "toy_slow").glob("budget400_*.npy"):
        old.unlink()  # as if toy_slow's 400 cell predated kept draws
    assert (
        main(["report", str(root / "paper"), str(root / "mine"), "--to", str(root / "board"), "--site"]) == 0
    )
    assert (root / "board" / "site" / "index.html").exists()
    return root / "board" / "site"


def test_the_site_has_a_page_per_task_and_method_and_states_its_size(site: Path) -> None:
    names = {p.name for p in site.glob("*.html")}
    methods = ["toy_exact", "toy_exact@mine", "toy_slow"]
    assert names == {
        "index.html",
        page_name("task", "toy_gaussian"),
        *(page_name("method", m) for m in methods),
    }
    index = (site / "index.html").read_text()
    assert "Kept posterior draws in the run folder(s): 8 files" in index  # 2 x 2 x 2 + 2 - 2 removed
    assert "This site:" in index and "toy_exact@mine" in index
    assert f'<a href="{page_name("task", "toy_gaussian")}">toy_gaussian</a> (4).' in index  # its pictures
    pictures = sorted(p.name for p in (site / "img").glob("posterior_*.png"))
    assert pictures == [f"posterior_toy_gaussian_{b}_obs{i}.png" for b in (200, 400) for i in (1, 2)]
    task_page = (site / page_name("task", "toy_gaussian")).read_text()
    assert "toy_exact@mine seed 1" in task_page  # the merged folder's draws are found under its own name
    assert "so not drawn: 400: toy_slow." in task_page
    assert "scale" in (site / page_name("method", "toy_exact@mine")).read_text()


def test_mean_ranks_count_the_cells_each_method_ran() -> None:
    import pandas as pd

    summary = pd.DataFrame(
        {
            "task": ["t", "t", "t", "t", "t"],
            "budget": [1, 1, 1, 2, 2],
            "method": ["a", "b", "c", "a", "b"],
            "c2st_mean": [0.6, 0.7, 0.9, 0.8, 0.7],
            "best": [True, False, False, False, True],
        }
    )
    ranks = mean_ranks(summary).set_index("method")
    assert ranks.loc["a", "mean_rank"] == 1.5 and ranks.loc["b", "mean_rank"] == 1.5
    assert ranks.loc["c", "mean_rank"] == 3 and ranks.loc["c", "cells"] == 1 and ranks.loc["b", "best"] == 1


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium, or a skip that says what is missing."""
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright is not installed (pip install playwright): browser test skipped",
    )
    executable = (
        os.environ.get("FMBENCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if executable is None:
        pytest.skip(
            "no Chromium here (apt-get install chromium, or set FMBENCH_CHROMIUM): browser test skipped"
        )
    with sync_api.sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
        except sync_api.Error as err:
            pytest.skip(f"Chromium at {executable} does not start: {err}")
        yield chromium
        chromium.close()


def _open(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """A page showing ``path``, and the list its console errors and failed requests are added to."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} {r.failure}"))
    page.goto(path.as_uri(), wait_until="load")
    return page, problems


def _column(page: Any, table: str, index: int) -> list[str]:
    """The sort keys of column ``index`` of the rows of table ``#table`` not hidden by a filter."""
    return page.eval_on_selector_all(
        f"#{table} tbody tr:not([hidden])", f"rows => rows.map(r => r.cells[{index}].dataset.v)"
    )


@pytest.mark.browser
def test_every_page_loads_in_chromium_with_its_images_and_no_error(browser: Any, site: Path) -> None:
    pages = sorted(site.glob("*.html"))
    for path in pages:
        page, problems = _open(browser, path)
        images = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.getAttribute('src'), i.naturalWidth])"
        )
        page.close()
        assert problems == [], f"{path.name}: {problems}"
        assert all(width > 0 for _, width in images), f"{path.name}: images not decoded: {images}"
        if path.name.startswith("task_"):
            assert len(images) == 5  # the C2ST plot and 2 budgets x 2 observations of posterior pictures


@pytest.mark.browser
def test_the_leaderboard_sorts_filters_and_links_to_a_task_page(
    browser: Any, site: Path, tmp_path: Path
) -> None:
    page, problems = _open(browser, site / "index.html")
    methods = _column(page, "leaderboard", 2)
    page.click("#leaderboard thead th:nth-child(3)")  # method
    assert _column(page, "leaderboard", 2) == sorted(methods) != methods
    page.click("#leaderboard thead th:nth-child(3)")
    assert _column(page, "leaderboard", 2) == sorted(methods, reverse=True)
    page.click("#leaderboard thead th:nth-child(4)")  # C2ST, numerically
    values = [float(v) for v in _column(page, "leaderboard", 3)]
    assert values == sorted(values)

    page.select_option("select[data-filter=method]", "toy_slow")
    shown = page.eval_on_selector_all(
        "#leaderboard tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.method)"
    )
    assert shown == ["toy_slow", "toy_slow"] and len(methods) == 5
    assert page.inner_text("#shown") == "2"
    page.select_option("select[data-filter=method]", "")
    page.select_option("select[data-filter=budget]", "400")
    assert len(_column(page, "leaderboard", 1)) == 2
    page.select_option("select[data-filter=budget]", "")

    page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)
    page.click("#leaderboard tbody tr:first-child td:first-child a")
    page.wait_for_load_state("load")
    assert page.url.endswith(page_name("task", "toy_gaussian")) and page.inner_text("h1") == "toy_gaussian"
    page.screenshot(path=str(tmp_path / "task.png"), full_page=True)
    page.close()
    assert problems == []
    for shot in ("leaderboard.png", "task.png"):
        assert (tmp_path / shot).stat().st_size > 10_000, shot


def test_the_site_modules_examples_hold() -> None:
    import doctest

    from fmbench.report import markup, pictures

    for module in (markup, pictures):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_the_committed_paper_site_refers_only_to_files_it_holds() -> None:
    site = Path(__file__).resolve().parent.parent / "results" / "paper" / "site"
    if not site.is_dir():
        pytest.skip("results/paper/site/ is not in this checkout")
    for page in site.glob("*.html"):
        for target in re.findall(r'(?:src|href)="([^"#:]+)"', page.read_text()):
            assert (site / target).is_file(), f"{page.name} refers to {target}, which is not in the site"


def test_a_method_run_with_two_settings_has_its_coverage_on_each_column_s_page(tmp_path: Path) -> None:
    out = tmp_path / "two"
    common = ("--methods", "toy_exact", "--budgets", "200", "--seeds", "1")
    for scale in ("1", "2"):
        argv = [
            *("run", "--tasks", "toy_gaussian", "--observations", "1", "--num-samples", "200"),
            *("--coverage-pairs", "20", "--out", str(out), "--no-progress", *common),
            *("--set", f"toy_exact.scale={scale}"),
        ]
        assert main(argv) == 0
    assert main(["report", str(out), "--site"]) == 0
    pages = sorted((out / "site").glob("method_*.html"))
    assert len(pages) == 2 and all("toy_exact[" in p.read_text() for p in pages)
    for page in pages:
        text = page.read_text()
        assert "No coverage was computed" not in text and "img/coverage_toy_exact" in text
