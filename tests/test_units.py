"""The one human size formatter, as people read it in the web pages and upload-client."""

from __future__ import annotations

import pytest

from upload_service.schemas.units import human_size


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (None, "0 B"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (256 * 1024**2, "256.0 MiB"),
        (3 * 1024**5, "3.0 PiB"),
        (2048 * 1024**5, "2048.0 PiB"),
    ],
)
def test_human_size(size: int | None, shown: str) -> None:
    assert human_size(size) == shown
