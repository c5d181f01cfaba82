"""Big files go up from the page over tus (tus-js-client): a dropped connection is resumed by
itself, an upload can be paused and resumed, and after a reload the same file goes on where it
stopped. The page is opened through a TCP proxy that counts, cuts and holds back the bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.fixtures.proxy import CountingProxy, counting_proxy
from tests.fixtures.server import RunningServer
from tests.web.helpers import SignedIn, api_get, put_file
from tests.web.test_upload import upload_item

MiB = 1024 * 1024
CHUNK = 8 * MiB  # app.js TUS_CHUNK_SIZE
SIZE = 5 * CHUNK + 12345
HEADROOM = 256 * 1024  # the page, its scripts and the requests' heads


def random_file(directory: Path, name: str, size: int = SIZE) -> tuple[Path, str]:
    path = directory / name
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def open_through(page: Page, proxy: CountingProxy) -> None:
    """The file browser through the proxy (cookies do not depend on the port)."""
    page.goto(f"{proxy.url}/")
    expect(page.locator("[data-uploader][data-ready]")).to_have_count(1)


def tus_requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.method) if "/api/tus/" in r.url else None)
    return seen


def stored(page: Page, name: str) -> dict[str, object]:
    [file] = [item for item in api_get(page, "/api/files")["items"] if item["name"] == name]
    return file


def test_a_big_file_goes_on_by_itself_after_the_connection_drops(
    signed_in: SignedIn, web_server: RunningServer, tmp_path: Path
) -> None:
    page = signed_in.page
    path, sha = random_file(tmp_path, "video.bin")
    with counting_proxy(web_server.address) as proxy:
        open_through(page, proxy)
        requests = tus_requests(page)
        proxy.reset()
        proxy.up.cut_after = 20 * MiB  # inside the third chunk

        page.set_input_files("#upload-input", path)

        item = upload_item(page, "video.bin")
        expect(item).to_have_attribute("data-state", "done", timeout=60_000)
        assert proxy.cut.is_set()
        assert proxy.up.count < SIZE + CHUNK + HEADROOM  # at most the cut chunk again
    assert requests.count("POST") == 1 and "HEAD" in requests  # one upload, resynced
    expect(item.locator(".upload-status")).to_have_text("Uploaded · 40.0 MiB")
    file = stored(page, "video.bin")
    assert (file["size"], file["sha256"]) == (SIZE, sha)
    expect(page.locator("#file-list .file-row")).to_have_count(1)


def test_a_paused_upload_resumes_without_sending_again_what_arrived(
    signed_in: SignedIn, web_server: RunningServer, tmp_path: Path
) -> None:
    page = signed_in.page
    path, sha = random_file(tmp_path, "backup.tar")
    with counting_proxy(web_server.address) as proxy:
        open_through(page, proxy)
        proxy.reset()
        proxy.up.stall_after = 12 * MiB  # hold it mid-way so the pause lands there

        page.set_input_files("#upload-input", path)
        item = upload_item(page, "backup.tar")
        assert proxy.stalled.wait(30), "the upload never got going"
        item.get_by_role("button", name="Pause").click()
        expect(item).to_have_attribute("data-state", "paused")
        expect(page.locator("[data-upload-summary]")).to_have_text("1 upload paused")
        proxy.drop_connections()  # the held chunk ends for the server: it keeps what arrived
        sent_before = proxy.up.count
        proxy.reset()

        item.get_by_role("button", name="Resume").click()

        expect(item).to_have_attribute("data-state", "done", timeout=60_000)
        assert proxy.up.count < SIZE - sent_before + CHUNK + HEADROOM
    file = stored(page, "backup.tar")
    assert (file["size"], file["sha256"]) == (SIZE, sha)


def test_after_a_reload_the_same_file_goes_on_where_it_stopped(
    signed_in: SignedIn, web_server: RunningServer, tmp_path: Path
) -> None:
    page = signed_in.page
    path, sha = random_file(tmp_path, "disk.img")
    with counting_proxy(web_server.address) as proxy:
        open_through(page, proxy)
        proxy.reset()
        proxy.up.stall_after = 20 * MiB

        page.set_input_files("#upload-input", path)
        assert proxy.stalled.wait(30), "the upload never got going"
        proxy.drop_connections()
        proxy.reset()
        open_through(page, proxy)  # the page is loaded again: the queue is gone
        expect(page.locator(".upload-item")).to_have_count(0)

        page.set_input_files("#upload-input", path)

        item = upload_item(page, "disk.img")
        expect(item).to_have_attribute("data-state", "done", timeout=60_000)
        assert proxy.up.count < SIZE - 16 * MiB + HEADROOM  # two whole chunks were kept
    expect(item.locator(".upload-message")).to_have_text(
        "Went on with an earlier, unfinished upload of this file."
    )
    file = stored(page, "disk.img")
    assert (file["size"], file["sha256"]) == (SIZE, sha)
    assert [item["name"] for item in api_get(page, "/api/files")["items"]] == ["disk.img"]


def test_a_small_file_keeps_the_plain_upload(signed_in: SignedIn, tmp_path: Path) -> None:
    page = signed_in.page
    requests = tus_requests(page)
    path, sha = random_file(tmp_path, "small.bin", 2 * MiB)

    page.set_input_files("#upload-input", path)

    expect(upload_item(page, "small.bin")).to_have_attribute("data-state", "done")
    assert requests == []
    assert stored(page, "small.bin")["sha256"] == sha


def test_a_taken_name_is_said_before_the_big_file_is_sent(
    signed_in: SignedIn, tmp_path: Path
) -> None:
    page = signed_in.page
    put_file(page, "movie.mkv", b"the old cut")
    page.reload()
    requests = tus_requests(page)
    path, sha = random_file(tmp_path, "movie.mkv", 2 * CHUNK)

    page.set_input_files("#upload-input", path)

    item = upload_item(page, "movie.mkv")
    expect(item).to_have_attribute("data-state", "error")
    expect(item.locator(".upload-message")).to_have_text("A file already exists at movie.mkv.")
    assert requests == ["POST"]  # refused at creation: not one byte sent, not retried
    item.get_by_role("button", name="Keep both").click()
    expect(item).to_have_attribute("data-state", "done", timeout=60_000)
    expect(item.locator(".upload-message")).to_have_text("Saved as movie (1).mkv")
    assert stored(page, "movie (1).mkv")["sha256"] == sha
