"""Finding files: search as you type, type filter, grouping, sorting, folders, more pages."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.helpers import (
    SignedIn,
    assert_not_reloaded,
    expect_rows,
    gradient_png,
    mark_page,
    put_file,
    row_names,
    screenshot,
)


def seed_library(page: Page) -> None:
    put_file(page, "report-2024.pdf", b"%PDF-1.4 a" * 300)
    put_file(page, "report-2025.pdf", b"%PDF-1.4 b" * 30)
    put_file(page, "holiday.png", gradient_png())
    put_file(page, "song.mp3", b"ID3" + b"\0" * 5000)
    put_file(page, "main.py", b"print('hi')\n")
    put_file(page, "backup.zip", b"PK\x03\x04" + b"\0" * 200_000)
    put_file(page, "projects/website/index.html", b"<h1>Hello</h1>\n")
    page.reload()


def test_search_as_you_type_updates_only_the_list(signed_in: SignedIn) -> None:
    page = signed_in.page
    seed_library(page)
    expect(page.locator("#file-list .file-row")).to_have_count(6)
    mark_page(page)
    page.locator("[data-uploader]").evaluate("panel => { panel.dataset.marker = 'kept' }")

    page.get_by_label("Search files").press_sequentially("repo", delay=40)

    expect(page.locator("#file-list .file-row")).to_have_count(2)
    assert row_names(page) == ["report-2024.pdf", "report-2025.pdf"]
    expect(page).to_have_url(re.compile(r"[?&]q=repo"))
    expect(page.locator("[data-uploader]")).to_have_attribute("data-marker", "kept")
    assert_not_reloaded(page)

    page.get_by_label("Search files").fill("index")
    expect(page.locator("#file-list .file-row")).to_have_count(1)
    expect(page.locator("#file-list .file-path")).to_have_text("in projects/website")

    page.get_by_label("Search files").fill("nothing like this")
    expect(page.get_by_role("heading", name="No files match “nothing like this”")).to_be_visible()
    page.get_by_label("Search files").fill("")
    expect(page.locator("#file-list .file-row")).to_have_count(6)
    assert_not_reloaded(page)


def test_filter_by_type_and_group_by_type(signed_in: SignedIn) -> None:
    page = signed_in.page
    seed_library(page)

    page.get_by_label("File type").select_option("image")
    expect(page.locator("#file-list .file-row")).to_have_count(1)
    assert row_names(page) == ["holiday.png"]
    page.get_by_label("File type").select_option("")
    expect(page.locator("#file-list .file-row")).to_have_count(6)

    page.get_by_text("Group by type").click()

    groups = page.locator("#file-list .file-group")
    expect(groups).to_have_count(5)
    headings = page.locator("#file-list .group-heading h2 span:first-of-type").all_inner_texts()
    assert headings == ["Images", "Audio", "Documents", "Archives", "Code and data"]
    assert groups.nth(2).locator(".file-name").all_inner_texts() == [
        "report-2024.pdf",
        "report-2025.pdf",
    ]
    # name, size, type and date on every row
    first = page.locator("#file-list .file-row").first
    expect(first.locator(".col-size")).to_have_text(re.compile(r"\d+(\.\d)? (B|KiB|MiB)"))
    expect(first.locator(".col-type")).to_have_text("Image")
    expect(first.locator(".col-date time")).to_have_attribute("datetime", re.compile(r"Z$"))
    expect(page).to_have_url(re.compile(r"group=type"))
    screenshot(page, "browser-grouped")


def test_sort_by_size_and_name(signed_in: SignedIn) -> None:
    page = signed_in.page
    seed_library(page)

    page.get_by_label("Sort by").select_option("-size")
    expect(page.locator("th.col-size")).to_have_attribute("aria-sort", "descending")
    assert row_names(page) == [
        "backup.zip",
        "holiday.png",
        "song.mp3",
        "report-2024.pdf",
        "report-2025.pdf",
        "main.py",
    ]
    expect(page.locator("#file-list .file-row .col-size").first).to_have_text("195.3 KiB")

    page.get_by_label("Sort by").select_option("-name")
    expect(page.locator("#file-list .file-row").first.locator(".file-name")).to_have_text(
        "song.mp3"
    )
    assert row_names(page) == sorted(row_names(page), reverse=True)
    screenshot(page, "browser")


def test_folders_with_breadcrumbs(signed_in: SignedIn) -> None:
    page = signed_in.page
    page.get_by_text("New folder").click()
    page.get_by_label("Folder name").fill("Projects")
    page.get_by_role("button", name="Create folder").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Projects")
    expect(page.get_by_role("heading", name="This folder is empty")).to_be_visible()
    put_file(page, "Projects/plan.md", b"# Plan\n")
    page.get_by_text("New folder").click()
    page.get_by_label("Folder name").fill("2025")
    page.get_by_role("button", name="Create folder").click()

    crumbs = page.locator(".breadcrumbs li")
    expect(crumbs).to_have_text(["My files", "Projects", "2025"])
    expect(page.locator(".upload-panel")).to_contain_text("Into Projects/2025")
    crumbs.get_by_role("link", name="Projects").click()
    expect(page.locator("#file-list .folder-row .file-name")).to_have_text(["2025"])
    assert row_names(page) == ["plan.md"]
    page.get_by_role("link", name="My files").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My files")
    page.locator("#file-list .folder-row").get_by_role("link", name="Projects").click()
    expect(page).to_have_url(re.compile(r"folder=Projects$"))

    page.locator("#file-list .folder-row").get_by_role("link", name="2025").click()
    page.get_by_role("button", name="Delete this empty folder").click()
    expect(page.get_by_role("status")).to_have_text("Deleted the folder Projects/2025.")
    expect(page.locator("#file-list .folder-row")).to_have_count(0)


def test_scrolling_down_loads_the_next_page(signed_in: SignedIn) -> None:
    page = signed_in.page
    for number in range(1, 62):
        put_file(page, f"photo-{number:03}.txt", f"{number}\n".encode())
    page.reload()
    expect(page.locator("#file-list .file-row")).to_have_count(50)
    mark_page(page)

    page.locator("#load-more").scroll_into_view_if_needed()

    expect(page.locator("#file-list .file-row")).to_have_count(61)
    names = row_names(page)
    assert names == [f"photo-{number:03}.txt" for number in range(1, 62)]
    expect(page.locator("#load-more")).to_have_count(0)
    assert_not_reloaded(page)


def test_an_htmx_error_is_shown_inline_and_the_list_stays(signed_in: SignedIn) -> None:
    page = signed_in.page
    put_file(page, "kept.txt", b"x")
    page.reload()
    # A request the server refuses (400): a hostile folder, as a tampered page would send.
    page.locator("#filters").evaluate(
        """form => {
          const field = document.createElement("input");
          field.type = "hidden"; field.name = "folder"; field.value = "../etc";
          form.appendChild(field);
        }"""
    )
    page.get_by_label("Search files").fill("kept")

    error = page.locator("#filters .form-errors .error")
    expect(error).to_have_text("The folder may not contain '.' or '..' segments.")
    expect(error).to_have_attribute("role", "alert")
    expect_rows(page, ["kept.txt"])  # the list was not replaced by the error
