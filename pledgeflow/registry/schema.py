"""The JSON Schema of the registry's JSON export (``export.json``), shipped beside this module and served at
``/api/v1/registry/schema.json`` (docs/open-data.md).

The shipped file is what the public shapes (pledgeflow/registry/public.py) generate; a test fails when the
two differ, and ``python -m pledgeflow.registry.schema`` writes the file again after a deliberate change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from pledgeflow.registry.public import PublicPledge

SCHEMA_FILE = Path(__file__).with_name("export.schema.json")
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def generated() -> dict[str, Any]:
    """The schema as the public shapes say it today."""
    schema = TypeAdapter(list[PublicPledge]).json_schema(mode="serialization")
    for shape in schema["$defs"].values():
        if "properties" in shape:  # a field the export gains must come with a new schema, not slip through
            shape["additionalProperties"] = False
    return {
        "$schema": DIALECT,
        "title": "Pledgeflow registry export",
        "description": (
            "Every published pledge of the registry, in its stable order, as GET /api/v1/registry/export.json "
            "gives them. Field by field in docs/open-data.md."
        ),
        **schema,
    }


def shipped(base_url: str) -> dict[str, Any]:
    """The shipped schema, identified by the URL this deployment serves it at."""
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return {"$id": f"{base_url.rstrip('/')}/api/v1/registry/schema.json", **schema}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(render(generated()))
    print(f"wrote {SCHEMA_FILE}")
