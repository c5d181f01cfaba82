import pytest

from upload_service.errors import BadRequest
from upload_service.services.paths import ancestors, normalize_folder, normalize_path, split_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a.txt", "a.txt"),
        ("/docs//notes/a.txt/", "docs/notes/a.txt"),
        ("Cafe\u0301/x", "Caf\u00e9/x"),  # NFC
        ("reports/2026 Q1.pdf", "reports/2026 Q1.pdf"),
    ],
)
def test_paths_are_normalized(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "../etc/passwd",
        "a/../../b",
        "./a",
        "a/./b",
        "a\\..\\b",
        "nul\x00byte",
        "line\nbreak",
        "tab\there",
        "del\x7f",
        " leading-space",
        "x" * 256,
        "/".join(["d"] * 65),
        "",
        "///",
    ],
)
def test_hostile_paths_are_rejected(raw: str) -> None:
    with pytest.raises(BadRequest) as info:
        normalize_path(raw)
    assert info.value.code == "invalid_path"


def test_root_folder_is_empty_string() -> None:
    assert normalize_folder("/") == ""
    assert normalize_folder(None) == ""


def test_split_and_ancestors() -> None:
    assert split_path("a/b/c.txt") == ("a/b", "c.txt")
    assert split_path("c.txt") == ("", "c.txt")
    assert ancestors("a/b/c") == ["a", "a/b", "a/b/c"]
