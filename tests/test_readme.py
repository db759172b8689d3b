"""The README stays a user's guide: short, and every file it links exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: The README's length limit (issue 47): dated figures and per-cell stories go to docs/ or studies/.
MAX_LINES = 200


def test_the_readme_stays_under_its_line_limit() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/ or studies/"


def test_every_file_the_readme_links_exists() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    relative = [link for link in links if "://" not in link]
    assert relative, "the README links no file"
    missing = [link for link in relative if not (ROOT / link).exists()]
    assert not missing, f"README.md links missing files: {missing}"


def test_the_readme_carries_no_dates() -> None:
    dates = re.findall(r"\b20\d\d-\d\d-\d\d\b", README.read_text())
    assert not dates, f"README.md carries dates {dates}: dated measurements belong in docs/ or studies/"
