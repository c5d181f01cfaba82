"""services.categories: content types from names and declarations, and the category shown."""

from __future__ import annotations

import pytest

from upload_service.services.categories import (
    CATEGORIES,
    category_for,
    extension,
    guess_content_type,
)


@pytest.mark.parametrize(
    ("name", "content_type", "category"),
    [
        ("photo.JPG", None, "image"),
        ("clip.mp4", None, "video"),
        ("song.mp3", None, "audio"),
        ("paper.pdf", None, "document"),
        ("notes.md", None, "document"),
        ("readme.txt", None, "document"),
        ("report.docx", None, "document"),
        ("sheet.ods", None, "document"),
        ("backup.tar.gz", None, "archive"),
        ("bundle.7z", None, "archive"),
        ("main.py", None, "code"),
        ("data.json", None, "code"),
        ("page.html", None, "code"),
        ("Dockerfile", None, "code"),
        ("src/Makefile", None, "code"),
        ("mystery.bin", None, "other"),
        ("noext", "image/png", "image"),
        ("noext", "application/zip", "archive"),
        ("noext", "text/x-weird", "code"),
        ("noext", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document"),
    ],
)
def test_categories(name: str, content_type: str | None, category: str) -> None:
    assert category_for(guess_content_type(name, content_type), name) == category


@pytest.mark.parametrize(
    ("name", "ext"),
    [
        ("a/b/Photo.JPEG", "jpeg"),
        ("archive.tar.gz", "gz"),
        ("Dockerfile", "dockerfile"),
        (".env", ""),
        ("noext", ""),
        ("trailing.", ""),
    ],
)
def test_extension_is_the_lowercased_last_suffix_of_the_name(name: str, ext: str) -> None:
    assert extension(name) == ext


def test_declared_content_type_is_sanitized() -> None:
    assert guess_content_type("a.png", "application/octet-stream") == "image/png"
    assert guess_content_type("a.png", "text/html\r\nX-Evil: 1") == "image/png"
    assert guess_content_type("a.txt", "text/plain; charset=utf-8") == "text/plain"
    assert guess_content_type("a.txt", "TEXT/Markdown") == "text/markdown"
    assert guess_content_type("a.bin", "not a type") == "application/octet-stream"


def test_types_unknown_to_mimetypes_are_guessed_from_our_table() -> None:
    assert guess_content_type("notes.md") == "text/markdown"
    assert guess_content_type("conf.yml") == "application/yaml"
    assert guess_content_type("x.zst") == "application/zstd"
    assert guess_content_type("nothing") == "application/octet-stream"


def test_every_result_is_one_of_the_listed_categories() -> None:
    names = ["a.png", "a.mov", "a.flac", "a.pdf", "a.zip", "a.rs", "a.xyz", "a", "a.csv"]
    assert {category_for(guess_content_type(name), name) for name in names} == set(CATEGORIES)
