"""File categories (image, video, audio, document, archive, code, other) and content types."""

from __future__ import annotations

import mimetypes
import re

CATEGORIES = ("image", "video", "audio", "document", "archive", "code", "other")

_DOCUMENT_EXTENSIONS = {
    "pdf",
    "doc",
    "docx",
    "odt",
    "ods",
    "odp",
    "xls",
    "xlsx",
    "ppt",
    "pptx",
    "rtf",
    "txt",
    "md",
    "markdown",
    "rst",
    "epub",
    "pages",
    "numbers",
    "key",
    "tex",
}
_ARCHIVE_EXTENSIONS = {
    "zip",
    "tar",
    "gz",
    "tgz",
    "bz2",
    "tbz2",
    "xz",
    "txz",
    "7z",
    "rar",
    "zst",
    "lz",
    "lzma",
}
_CODE_EXTENSIONS = {
    "py",
    "pyi",
    "js",
    "mjs",
    "cjs",
    "ts",
    "tsx",
    "jsx",
    "json",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "html",
    "htm",
    "css",
    "scss",
    "sass",
    "less",
    "sh",
    "bash",
    "zsh",
    "fish",
    "ps1",
    "c",
    "h",
    "cc",
    "cpp",
    "cxx",
    "hpp",
    "go",
    "rs",
    "java",
    "kt",
    "kts",
    "scala",
    "rb",
    "php",
    "pl",
    "lua",
    "swift",
    "m",
    "cs",
    "fs",
    "sql",
    "xml",
    "csv",
    "tsv",
    "r",
    "jl",
    "dart",
    "vue",
    "svelte",
    "ex",
    "exs",
    "erl",
    "hs",
    "ml",
    "clj",
    "nix",
    "dockerfile",
    "makefile",
    "gradle",
    "proto",
    "graphql",
    "ipynb",
    "env",
    "lock",
}
_DOCUMENT_TYPES = {
    "application/pdf",
    "application/rtf",
    "text/rtf",
    "text/plain",
    "text/markdown",
    "application/msword",
    "application/epub+zip",
}
_ARCHIVE_TYPES = {
    "application/zip",
    "application/x-tar",
    "application/gzip",
    "application/x-gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-7z-compressed",
    "application/vnd.rar",
    "application/x-rar-compressed",
    "application/zstd",
}
_MIME_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_GENERIC_TYPES = {
    "application/octet-stream",
    "binary/octet-stream",
    "application/x-www-form-urlencoded",
}
_EXTRA_TYPES = {
    "md": "text/markdown",
    "markdown": "text/markdown",
    "yaml": "application/yaml",
    "yml": "application/yaml",
    "toml": "application/toml",
    "webp": "image/webp",
    "rs": "text/x-rust",
    "go": "text/x-go",
    "ts": "text/x-typescript",
    "7z": "application/x-7z-compressed",
    "rar": "application/vnd.rar",
    "zst": "application/zstd",
    "heic": "image/heic",
}


def extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1].lower()
    if base in ("dockerfile", "makefile"):
        return base
    return base.rsplit(".", 1)[-1] if "." in base.strip(".") else ""


def guess_content_type(name: str, declared: str | None = None) -> str:
    """The declared type when it is specific and well-formed, else a guess from the name."""
    declared_type = (declared or "").split(";", 1)[0].strip().lower()
    if _MIME_RE.match(declared_type) and declared_type not in _GENERIC_TYPES:
        return declared_type
    ext = extension(name)
    if ext in _EXTRA_TYPES:
        return _EXTRA_TYPES[ext]
    guessed, _encoding = mimetypes.guess_type(f"x.{ext}", strict=False) if ext else (None, None)
    return guessed or "application/octet-stream"


def category_for(content_type: str, name: str) -> str:
    """Derive the category from the MIME type first, then from the extension."""
    main = content_type.split("/", 1)[0]
    ext = extension(name)
    if main in ("image", "video", "audio"):
        return main
    if ext in _ARCHIVE_EXTENSIONS or content_type in _ARCHIVE_TYPES:
        return "archive"
    if ext in _CODE_EXTENSIONS:
        return "code"
    if ext in _DOCUMENT_EXTENSIONS or content_type in _DOCUMENT_TYPES:
        return "document"
    if "officedocument" in content_type or "opendocument" in content_type:
        return "document"
    if content_type.startswith("text/"):
        return "code" if content_type != "text/plain" else "document"
    return "other"
