"""The upload panel: several files at once, live progress, conflicts, drag and drop."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.fixtures.server import RunningServer
from tests.web.helpers import (
    SignedIn,
    api_get,
    assert_not_reloaded,
    gradient_png,
    mark_page,
    put_file,
    row_names,
    screenshot,
    write_file,
)

LARGE_FILE_SIZE = 96 * 1024 * 1024
# Records every value the upload progress bars take (app.js sets the reflected attribute).
RECORD_PROGRESS = """() => {
  window.progressSeen = [];
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      if (mutation.target.matches("progress.upload-progress")) {
        window.progressSeen.push(Number(mutation.target.getAttribute("value")));
      }
    }
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["value"] });
}"""


def upload_item(page: Page, name: str) -> Locator:
    return page.locator(".upload-item", has=page.locator(".upload-name", has_text=name))


def test_several_files_appear_in_the_list_without_a_reload(
    signed_in: SignedIn, tmp_path: Path
) -> None:
    page = signed_in.page
    files = [
        write_file(tmp_path, "holiday.png", gradient_png()),
        write_file(tmp_path, "notes.txt", "Remember the milk.\n"),
        write_file(tmp_path, "build.py", "print('hello')\n"),
    ]
    mark_page(page)

    page.set_input_files("#upload-input", files)

    for path in files:
        expect(upload_item(page, path.name)).to_have_attribute("data-state", "done")
    expect(page.locator("[data-upload-summary]")).to_have_text("3 files uploaded")
    expect(page.locator("#file-list .file-row")).to_have_count(3)
    assert row_names(page) == ["build.py", "holiday.png", "notes.txt"]
    expect(page.locator("#usage")).not_to_contain_text("0 B of")  # the header's usage follows
    assert_not_reloaded(page)
    names = {item["name"] for item in api_get(page, "/api/files")["items"]}
    assert names == {"holiday.png", "notes.txt", "build.py"}


def test_progress_bar_moves_for_a_large_file(
    signed_in: SignedIn, web_server: RunningServer, tmp_path: Path
) -> None:
    page = signed_in.page
    large = tmp_path / "dataset.bin"
    with large.open("wb") as handle:
        handle.truncate(LARGE_FILE_SIZE)
    page.evaluate(RECORD_PROGRESS)

    page.set_input_files("#upload-input", large)

    item = upload_item(page, "dataset.bin")
    page.wait_for_function(
        "() => window.progressSeen.some((value) => value > 0 && value < 100)", polling=10
    )
    # Hold the server still for a moment: the bar stops mid-way, and the screenshot shows it.
    os.killpg(web_server.process.pid, signal.SIGSTOP)
    try:
        time.sleep(0.3)
        expect(item).to_have_attribute("data-state", "uploading")
        expect(item.locator(".upload-status")).to_contain_text("% · ")
        screenshot(page, "upload-progress")
    finally:
        os.killpg(web_server.process.pid, signal.SIGCONT)
    expect(item).to_have_attribute("data-state", "done", timeout=60_000)
    seen = page.evaluate("window.progressSeen")
    intermediate = sorted({value for value in seen if 0 < value < 100})
    assert len(intermediate) >= 2, seen
    assert seen == sorted(seen), "progress went backwards"
    expect(item.locator(".upload-status")).to_have_text("Uploaded · 96.0 MiB")
    [listed] = api_get(page, "/api/files")["items"]
    assert (listed["name"], listed["size"]) == ("dataset.bin", LARGE_FILE_SIZE)


def test_conflict_is_shown_on_the_file_with_replace_and_keep_both(
    signed_in: SignedIn, tmp_path: Path
) -> None:
    page = signed_in.page
    put_file(page, "report.txt", b"first version\n")
    page.reload()
    newer = write_file(tmp_path, "report.txt", "second version\n")

    page.set_input_files("#upload-input", newer)
    item = upload_item(page, "report.txt")
    expect(item).to_have_attribute("data-state", "error")
    expect(item.locator(".upload-message")).to_have_text("A file already exists at report.txt.")
    expect(item.get_by_role("button", name="Replace")).to_be_visible()
    item.get_by_role("button", name="Keep both").click()
    expect(item).to_have_attribute("data-state", "done")
    expect(item.locator(".upload-message")).to_have_text("Saved as report (1).txt")
    expect(page.locator("#file-list .file-row")).to_have_count(2)

    page.set_input_files("#upload-input", newer)
    again = upload_item(page, "report.txt").first
    expect(again).to_have_attribute("data-state", "error")
    again.get_by_role("button", name="Replace").click()
    expect(again).to_have_attribute("data-state", "done")
    expect(again.locator(".upload-status")).to_contain_text("Replaced")
    files = {item["name"]: item for item in api_get(page, "/api/files")["items"]}
    assert set(files) == {"report.txt", "report (1).txt"}
    content = page.request.get(files["report.txt"]["download_url"]).text()
    assert content == "second version\n"


def test_the_chosen_conflict_policy_applies_to_the_whole_batch(
    signed_in: SignedIn, tmp_path: Path
) -> None:
    page = signed_in.page
    put_file(page, "a.txt", b"old")
    page.reload()
    page.select_option("#on-conflict", "replace")

    page.set_input_files("#upload-input", write_file(tmp_path, "a.txt", "new"))

    expect(upload_item(page, "a.txt")).to_have_attribute("data-state", "done")
    [file] = api_get(page, "/api/files")["items"]
    assert page.request.get(file["download_url"]).text() == "new"


def test_files_dropped_on_the_page_are_uploaded(signed_in: SignedIn) -> None:
    page = signed_in.page
    mark_page(page)
    transfer = page.evaluate_handle(
        """() => {
          const transfer = new DataTransfer();
          transfer.items.add(new File(["dropped text\\n"], "dropped.txt", { type: "text/plain" }));
          transfer.items.add(new File(["a,b\\n1,2\\n"], "table.csv", { type: "text/csv" }));
          return transfer;
        }"""
    )
    zone = page.locator("[data-dropzone]")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(zone).to_have_class("dropzone is-dragover")
    page.locator("#file-list").dispatch_event("drop", {"dataTransfer": transfer})

    expect(zone).to_have_class("dropzone")
    expect(page.locator("#file-list .file-row")).to_have_count(2)
    assert row_names(page) == ["dropped.txt", "table.csv"]
    assert_not_reloaded(page)
