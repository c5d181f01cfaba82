"""The file browser's view of the query string, and the listing it shows.

Browsing a folder shows its subfolders and direct files; searching or filtering by type looks
through the whole subtree of the current folder (at the top: everything), which is what people
expect of a search box. Grouping by type lists each category separately, so every group is
complete up to :data:`GROUP_SIZE` files with a link to the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from flask import url_for
from sqlalchemy.orm import Session

from upload_service.models import File, User
from upload_service.services.categories import CATEGORIES
from upload_service.services.files import FileQuery, SortKey, list_files, list_subfolders
from upload_service.services.paths import ancestors, normalize_folder

PAGE_SIZE = 50
GROUP_SIZE = 25
MAX_QUERY_LENGTH = 200

# The sort menu: one value per choice, "-" for descending (the URL reads ``?sort=-size``).
SORT_CHOICES: dict[str, str] = {
    "name": "Name (A–Z)",  # noqa: RUF001 (an en dash is right here)
    "-name": "Name (Z–A)",  # noqa: RUF001
    "-updated_at": "Newest first",
    "updated_at": "Oldest first",
    "-size": "Largest first",
    "size": "Smallest first",
    "-created_at": "Recently uploaded",
}
_SORT_KEYS: tuple[SortKey, ...] = ("name", "size", "created_at", "updated_at")


@dataclass(frozen=True)
class BrowseParams:
    folder: str = ""
    q: str = ""
    category: str = ""
    sort: str = "name"  # a key of SORT_CHOICES
    group: bool = False
    cursor: str | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.category)

    @property
    def sort_key(self) -> SortKey:
        key = self.sort.lstrip("-")
        return next(k for k in _SORT_KEYS if k == key)

    @property
    def order(self) -> Literal["asc", "desc"]:
        return "desc" if self.sort.startswith("-") else "asc"

    def url_args(self, **changes: Any) -> dict[str, Any]:
        """Query arguments for ``url_for``, leaving out defaults so URLs stay short."""
        params = replace(self, **changes)
        args = {
            "folder": params.folder,
            "q": params.q,
            "category": params.category,
            "sort": "" if params.sort == "name" else params.sort,
            "group": "type" if params.group else "",
            "cursor": params.cursor or "",
        }
        return {name: value for name, value in args.items() if value}


def folder_url(folder: str) -> str:
    """The browser at ``folder``, with the default view."""
    return url_for("pages.index", **BrowseParams(folder=folder).url_args())


def parse_browse_params(args: Mapping[str, str]) -> BrowseParams:
    """Read the browser's query string; unknown choices fall back to the defaults.

    A hostile folder is refused (400) by the same normalizer the API uses.
    """
    sort = args.get("sort") or "name"
    category = args.get("category") or ""
    return BrowseParams(
        folder=normalize_folder(args.get("folder")),
        q=(args.get("q") or "").strip()[:MAX_QUERY_LENGTH],
        category=category if category in CATEGORIES else "",
        sort=sort if sort in SORT_CHOICES else "name",
        group=args.get("group") == "type",
        cursor=args.get("cursor") or None,
    )


@dataclass
class FileGroup:
    category: str
    files: list[File]
    has_more: bool


@dataclass
class Listing:
    params: BrowseParams
    folders: list[str] = field(default_factory=list)
    files: list[File] = field(default_factory=list)
    next_cursor: str | None = None
    groups: list[FileGroup] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.folders or self.files or self.groups)

    @property
    def breadcrumbs(self) -> list[tuple[str, str]]:
        """``[(name, path), ...]`` of the folders above and including the current one."""
        return [(path.rsplit("/", 1)[-1], path) for path in ancestors(self.params.folder)]


def load_listing(session: Session, owner: User, params: BrowseParams) -> Listing:
    """One page of the browser (or every group, when grouping by type)."""
    listing = Listing(params)
    if not params.filtered and not params.cursor:
        listing.folders = list_subfolders(session, owner, params.folder)
    if params.group:
        categories = [params.category] if params.category else list(CATEGORIES)
        for category in categories:
            files, cursor = list_files(session, owner, _query(params, GROUP_SIZE, category))
            if files:
                listing.groups.append(FileGroup(category, files, cursor is not None))
        return listing
    listing.files, listing.next_cursor = list_files(
        session, owner, _query(params, PAGE_SIZE, params.category or None)
    )
    return listing


def _query(params: BrowseParams, limit: int, category: str | None) -> FileQuery:
    return FileQuery(
        q=params.q or None,
        category=category,
        folder=params.folder,
        recursive=params.filtered,
        sort=params.sort_key,
        order=params.order,
        limit=limit,
        cursor=None if params.group else params.cursor,
    )
