"""Photograph each page (issues 5 and 11) by running the browser tests with screenshots switched on.

    .venv/bin/python docs/make_page_screenshots.py        # writes docs/pages-*.png

The pictures come from the real walks of tests/pages/ (test_browser.py, test_walk.py, test_accessibility.py:
real app, Temporal dev server, PostgreSQL, headless Chromium), so they show what a pledger, a vetter and the
public really see, in English, French and Arabic, on a desktop and on a phone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent


def main() -> int:
    environment = {**os.environ, "PLEDGEFLOW_PAGE_SCREENSHOTS": str(DOCS)}
    tests = ["tests/pages/test_browser.py", "tests/pages/test_walk.py", "tests/pages/test_accessibility.py"]
    command = [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"]
    finished = subprocess.run(command, cwd=ROOT, env=environment, check=False)  # noqa: S603 - our own test run
    if finished.returncode == 0:
        for picture in sorted(DOCS.glob("pages-*.png")):
            print(picture.relative_to(ROOT))
    return finished.returncode


if __name__ == "__main__":
    sys.exit(main())
