"""Photograph each page (issue 5) by running the browser tests with screenshots switched on.

    .venv/bin/python docs/make_page_screenshots.py        # writes docs/pages-*.png

The pictures come from the real walks of tests/pages/test_browser.py (real app, Temporal dev server,
PostgreSQL, headless Chromium), so they show what a pledger, a vetter and the public really see:
the submission form, the staff queue and decision page, the report form, the registry and a pledge page.
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
    command = [sys.executable, "-m", "pytest", "tests/pages/test_browser.py", "-q", "-p", "no:cacheprovider"]
    finished = subprocess.run(command, cwd=ROOT, env=environment, check=False)  # noqa: S603 - our own test run
    if finished.returncode == 0:
        for picture in sorted(DOCS.glob("pages-*.png")):
            print(picture.relative_to(ROOT))
    return finished.returncode


if __name__ == "__main__":
    sys.exit(main())
