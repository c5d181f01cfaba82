"""``upload-client put --direct``: signed URL, upload straight to storage, complete.

Against the shared local-storage server (our signed URL) and a server on S3 (moto), where the
bytes go to the bucket with a presigned POST and never through the server.
"""

from __future__ import annotations

from pathlib import Path

from tests.client.conftest import Client, MiB, sha256_of, write_random
from tests.fixtures.server import RunningServer


def round_trip(client: Client, folder: str, size: int) -> None:
    local = client.cwd / "direct.bin"
    digest = write_random(local, size)
    put = client.ok("put", "--direct", "direct.bin", f"{folder}/")
    assert put.lines[0].startswith(f"uploaded direct.bin -> {folder}/direct.bin")
    assert client.ok("ls", folder).stdout.count("direct.bin") == 1
    client.ok("get", f"{folder}/direct.bin", "back.bin")
    assert sha256_of(client.cwd / "back.bin") == digest
    taken = client.fails(5, "put", "--direct", "direct.bin", f"{folder}/")
    assert taken == f"{folder}/direct.bin already exists on the server (use --replace or --rename)"
    client.ok("put", "--direct", "--replace", "direct.bin", f"{folder}/")


def test_put_direct_on_local_storage(client: Client, folder: str) -> None:
    round_trip(client, folder, 3 * MiB + 5)


def test_put_direct_on_s3_posts_to_the_bucket(
    s3_server: RunningServer, tmp_path: Path, folder: str
) -> None:
    home, cwd = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    cwd.mkdir()
    client = Client(url=s3_server.url, token=s3_server.create_token(), home=home, cwd=cwd)
    round_trip(client, folder, 12 * MiB + 3)  # more than one 8 MiB part
