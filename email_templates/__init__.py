"""Email templates: ``<kind>.txt`` and ``<kind>.html`` per message kind, sharing ``layout.*``."""

from pathlib import Path

TEMPLATE_DIR = Path(__file__).parent
