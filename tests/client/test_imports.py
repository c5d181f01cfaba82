"""The client imports no server module except the shared pydantic schemas (architecture §1)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import upload_service.client.cli, upload_service.client.progress
print(json.dumps(sorted(sys.modules)))
"""


def test_the_client_imports_only_shared_schemas_from_the_server_package() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    modules = json.loads(done.stdout)

    ours = {m for m in modules if m.split(".")[0] == "upload_service"}
    allowed = ("upload_service.client", "upload_service.schemas")
    assert {m for m in ours if m != "upload_service" and not m.startswith(allowed)} == set()
    assert not {"flask", "sqlalchemy", "gunicorn", "boto3"} & {m.split(".")[0] for m in modules}
