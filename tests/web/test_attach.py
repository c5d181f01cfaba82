"""The "attach to a form" flow: temporary uploads as chips, persisted when the form is saved."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.web.helpers import SignedIn, api_get, put_file, row_names, screenshot, write_file


def test_chosen_files_stay_temporary_until_the_form_is_saved(
    signed_in: SignedIn, tmp_path: Path
) -> None:
    page = signed_in.page
    page.get_by_role("link", name="Upload with description").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upload with a description")

    page.set_input_files(
        "#attach-input",
        [
            write_file(tmp_path, "scan-1.txt", "page one\n"),
            write_file(tmp_path, "scan-2.txt", "two\n"),
        ],
    )

    chips = page.locator("[data-chips] .chip")
    expect(chips).to_have_count(2)
    expect(page.locator("[data-chips] .chip.is-uploading")).to_have_count(0)
    expect(chips.locator(".chip-name")).to_have_text(["scan-1.txt", "scan-2.txt"])
    tokens = page.locator("[data-chips] input[type=hidden][name=upload]")
    expect(tokens).to_have_count(2)
    token = tokens.first.input_value()
    assert page.locator("#attach-input").evaluate("input => input.files.length") == 0
    # uploaded, but temporary: invisible in the list until the form is saved
    assert api_get(page, "/api/files")["items"] == []
    status = api_get(page, f"/api/upload_temporary/{token}")
    assert [file["state"] for file in status["files"]] == ["temporary"]

    page.get_by_role("textbox", name="Folder").fill("inbox/scans")
    page.get_by_label("Description").fill("Scanned on Tuesday")
    screenshot(page, "attach-form")
    page.get_by_role("button", name="Save files").click()

    expect(page).to_have_url(re.compile(r"/\?folder=inbox/scans$"))
    expect(page.get_by_role("status")).to_have_text("Saved 2 files to inbox/scans.")
    assert row_names(page) == ["scan-1.txt", "scan-2.txt"]
    expect(page.locator("#file-list .file-description")).to_have_text(
        ["Scanned on Tuesday", "Scanned on Tuesday"]
    )
    files = api_get(page, "/api/files")["items"]
    assert {(file["path"], file["state"]) for file in files} == {
        ("inbox/scans/scan-1.txt", "complete"),
        ("inbox/scans/scan-2.txt", "complete"),
    }
    assert page.request.get(f"/api/upload_temporary/{token}").status == 404  # claimed


def test_removing_a_chip_discards_its_upload(signed_in: SignedIn, tmp_path: Path) -> None:
    page = signed_in.page
    page.goto("/attach")
    page.set_input_files("#attach-input", write_file(tmp_path, "mistake.txt", "oops\n"))
    chip = page.locator("[data-chips] .chip")
    expect(chip.locator("input[name=upload]")).to_have_count(1)
    token = chip.locator("input[name=upload]").input_value()

    chip.get_by_role("button", name="Remove mistake.txt").click()

    expect(chip).to_have_count(0)
    assert page.request.get(f"/api/upload_temporary/{token}").status == 404
    page.get_by_role("button", name="Save files").click()
    expect(page.locator(".attach-form > .error")).to_have_text("Add at least one file.")


def test_a_conflict_on_save_keeps_the_chips(signed_in: SignedIn, tmp_path: Path) -> None:
    page = signed_in.page
    put_file(page, "notes.txt", b"existing\n")
    page.goto("/attach")
    page.set_input_files("#attach-input", write_file(tmp_path, "notes.txt", "new\n"))
    expect(page.locator("[data-chips] .chip input[name=upload]")).to_have_count(1)

    page.get_by_role("button", name="Save files").click()

    expect(page.locator(".attach-form > .error")).to_have_text(
        "A file already exists at notes.txt."
    )
    expect(page.locator("[data-chips] .chip .chip-name")).to_have_text(["notes.txt"])
    page.get_by_label("If a name is taken").select_option("rename")
    page.get_by_role("button", name="Save files").click()
    expect(page.get_by_role("status")).to_have_text("Saved 1 file to the top folder.")
    assert row_names(page) == ["notes (1).txt", "notes.txt"]
