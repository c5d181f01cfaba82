"""Concurrent writes against the real server, as several users' scripts send them.

Each test releases its requests together with a barrier and then checks what a user would:
every answer is a 2xx or a deliberate 4xx (never a 500), every upload that got a 2xx is listed
exactly once with its exact bytes, and the quota usage equals the sum of the listed sizes.
Every test runs on SQLite and on PostgreSQL (READ COMMITTED, its default), against
``upload-service serve`` with two gunicorn workers (the default) of 32 threads each.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fixtures.github import FakeAccount, FakeGitHub
from tests.fixtures.server import RunningServer, running_server

pytestmark = pytest.mark.slow

TIMEOUT = 120
FOLDER = "concurrent"


@dataclass
class User:
    login: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def server_settings(github: FakeGitHub, database_url: str) -> dict[str, str]:
    """Settings of the server under test; a test may add to them before using ``server``."""
    settings = {name: str(value) for name, value in github.settings().items()}
    settings.update(DATABASE_URL=database_url, WORKERS="2")
    return settings


@pytest.fixture
def server(server_settings: dict[str, str], tmp_path: Path) -> Iterator[RunningServer]:
    """The server as ``upload-service serve`` starts it, signing in with the fake GitHub."""
    with running_server(tmp_path, **server_settings) as running:
        yield running


@pytest.fixture
def users(github: FakeGitHub, server: RunningServer) -> list[User]:
    """Three users who have never called the server: their first requests come all at once."""
    accounts = [FakeAccount(id=9000 + n, login=f"user{n}") for n in range(3)]
    return [User(account.login, github.issue_token(account)) for account in accounts]


def at_once(jobs: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run ``jobs`` in threads released together by a barrier."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], requests.Response]) -> requests.Response:
        barrier.wait(timeout=TIMEOUT)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def assert_no_server_errors(responses: list[requests.Response], server: RunningServer) -> None:
    # 507 is the deliberate "quota full"; any other 5xx is the server failing
    failures = [
        (r.status_code, r.text[:300]) for r in responses if r.status_code in range(500, 507)
    ]
    assert not failures, f"{failures}\n--- server log ---\n{server.log.read_text()[-6000:]}"


def raw_put(server: RunningServer, user: User, path: str, body: bytes) -> Callable[[], Any]:
    url = f"{server.url}/api/fs/{path}"
    return lambda: requests.put(url, data=body, headers=user.headers, timeout=TIMEOUT)


def json_put(server: RunningServer, user: User, path: str, body: bytes) -> Callable[[], Any]:
    folder, _, name = path.rpartition("/")
    item = {"filename": name, "folder": folder, "content": base64.b64encode(body).decode()}
    url = f"{server.url}/api/upload"
    return lambda: requests.put(url, json=[item], headers=user.headers, timeout=TIMEOUT)


def listed(server: RunningServer, user: User) -> dict[str, dict[str, Any]]:
    """The user's complete files by path (each path must appear once)."""
    response = requests.get(
        f"{server.url}/api/files",
        params={"folder": FOLDER, "recursive": "true", "limit": 1000},
        headers=user.headers,
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    paths = [item["path"] for item in items]
    assert len(paths) == len(set(paths)), f"a path is listed twice: {sorted(paths)}"
    return {item["path"]: item for item in items}


def content(server: RunningServer, user: User, file: dict[str, Any]) -> bytes:
    response = requests.get(file["download_url"], headers=user.headers, timeout=TIMEOUT)
    assert response.status_code == 200
    return response.content


def used_bytes(server: RunningServer, user: User) -> int:
    response = requests.get(f"{server.url}/api/me", headers=user.headers, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return int(response.json()["usage_bytes"])


def test_thirty_uploads_from_three_new_users_into_a_new_folder(
    server: RunningServer, users: list[User]
) -> None:
    bodies = {n: os.urandom(1024 * 1024) for n in range(30)}
    owners = {n: users[n % 3] for n in bodies}
    paths = {n: f"{FOLDER}/file-{n:02}.bin" for n in bodies}
    make = (raw_put, json_put)
    jobs = [make[n % 2](server, owners[n], paths[n], bodies[n]) for n in bodies]

    responses = at_once(jobs)

    assert_no_server_errors(responses, server)
    assert [r.status_code for r in responses] == [201] * 30
    for user in users:
        files = listed(server, user)
        mine = {paths[n]: bodies[n] for n in bodies if owners[n] is user}
        assert set(files) == set(mine)
        for path, body in mine.items():
            assert files[path]["sha256"] == hashlib.sha256(body).hexdigest()
            assert content(server, user, files[path]) == body
        assert used_bytes(server, user) == sum(file["size"] for file in files.values())


def statuses(responses: list[requests.Response]) -> list[int]:
    return sorted(response.status_code for response in responses)


def test_the_same_content_from_one_user_under_many_names(
    server: RunningServer, users: list[User]
) -> None:
    body = os.urandom(256 * 1024)  # one blob row for all of them (per-owner dedup)
    user = users[0]
    make = (raw_put, json_put)
    jobs = [make[n % 2](server, user, f"{FOLDER}/same-{n}.bin", body) for n in range(16)]

    responses = at_once(jobs)

    assert_no_server_errors(responses, server)
    assert statuses(responses) == [201] * 16
    files = listed(server, user)
    assert len(files) == 16
    assert {file["sha256"] for file in files.values()} == {hashlib.sha256(body).hexdigest()}
    assert content(server, user, files[f"{FOLDER}/same-7.bin"]) == body
    assert used_bytes(server, user) == 16 * len(body)


def test_many_uploads_to_one_path_store_exactly_one(
    server: RunningServer, users: list[User]
) -> None:
    user = users[1]
    bodies = [os.urandom(64 * 1024) for _ in range(12)]
    make = (raw_put, json_put)
    jobs = [make[n % 2](server, user, f"{FOLDER}/one.bin", body) for n, body in enumerate(bodies)]

    responses = at_once(jobs)

    assert_no_server_errors(responses, server)
    assert statuses(responses) == [201] + [409] * 11
    winner = bodies[[r.status_code for r in responses].index(201)]
    files = listed(server, user)
    assert list(files) == [f"{FOLDER}/one.bin"]
    assert content(server, user, files[f"{FOLDER}/one.bin"]) == winner
    assert used_bytes(server, user) == len(winner)


def test_concurrent_uploads_never_exceed_the_quota(
    server_settings: dict[str, str], tmp_path: Path, github: FakeGitHub
) -> None:
    server_settings["USER_QUOTA"] = str(3 * 1024 * 1024)
    with running_server(tmp_path, **server_settings) as server:
        user = User("quota", github.issue_token(FakeAccount(id=9100, login="quota")))
        make = (raw_put, json_put)
        jobs = [
            make[n % 2](server, user, f"{FOLDER}/q-{n}.bin", os.urandom(1024 * 1024))
            for n in range(8)
        ]

        responses = at_once(jobs)

        assert_no_server_errors(responses, server)
        assert statuses(responses) == [201] * 3 + [507] * 5
        files = listed(server, user)
        assert len(files) == 3
        assert used_bytes(server, user) == 3 * 1024 * 1024


def test_concurrent_mkdir_of_one_tree(server: RunningServer, users: list[User]) -> None:
    user = users[0]
    url = f"{server.url}/api/folders/{FOLDER}/a/b/c"
    jobs = [lambda: requests.put(url, headers=user.headers, timeout=TIMEOUT) for _ in range(16)]

    responses = at_once(jobs)

    assert_no_server_errors(responses, server)
    assert statuses(responses) == [200] * 15 + [201]
    tree = (("", FOLDER), (FOLDER, "a"), (f"{FOLDER}/a", "b"), (f"{FOLDER}/a/b", "c"))
    for parent, child in tree:
        listing_url = f"{server.url}/api/folders" + (f"/{parent}" if parent else "")
        answer = requests.get(listing_url, headers=user.headers, timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        assert answer.json()["folders"] == [f"{parent}/{child}".lstrip("/")]


def test_concurrent_persist_of_one_temporary_upload(
    server: RunningServer, users: list[User]
) -> None:
    user = users[2]
    items = [
        {"filename": f"t{n}.txt", "content": base64.b64encode(b"temporary %d" % n).decode()}
        for n in range(3)
    ]
    made = requests.put(
        f"{server.url}/api/upload_temporary", json=items, headers=user.headers, timeout=TIMEOUT
    )
    assert made.status_code == 201, made.text
    persist = f"{server.url}/api/upload_temporary/{made.json()['token']}/persist"
    jobs = [
        lambda: requests.post(persist, json={"folder": FOLDER}, headers=user.headers, timeout=60)
        for _ in range(10)
    ]

    responses = at_once(jobs)

    assert_no_server_errors(responses, server)
    assert statuses(responses) == [200] + [404] * 9
    files = listed(server, user)
    assert sorted(files) == [f"{FOLDER}/t{n}.txt" for n in range(3)]
    assert content(server, user, files[f"{FOLDER}/t1.txt"]) == b"temporary 1"
    assert used_bytes(server, user) == sum(file["size"] for file in files.values())


def test_concurrent_delete_and_download_of_one_file(
    server: RunningServer, users: list[User]
) -> None:
    user = users[0]
    body = os.urandom(2 * 1024 * 1024)
    stored = raw_put(server, user, f"{FOLDER}/doomed.bin", body)()
    assert stored.status_code == 201, stored.text
    file = stored.json()
    file_url = f"{server.url}/api/files/{file['id']}"
    downloads = [
        lambda: requests.get(file["download_url"], headers=user.headers, timeout=TIMEOUT)
        for _ in range(10)
    ]
    deletes = [
        lambda: requests.delete(file_url, headers=user.headers, timeout=TIMEOUT) for _ in range(6)
    ]

    responses = at_once(downloads + deletes)

    assert_no_server_errors(responses, server)
    fetched, deleted = responses[:10], responses[10:]
    assert statuses(deleted) == [204] + [404] * 5
    for response in fetched:
        assert response.status_code in (200, 404)
        if response.status_code == 200:  # started before the delete: whole and exact
            assert response.content == body
    assert listed(server, user) == {}
    assert used_bytes(server, user) == 0


def test_concurrent_first_use_of_an_api_token(server: RunningServer) -> None:
    token = server.create_token("local", name="fresh")  # never used yet
    user = User("local", token)
    reads = [
        lambda: requests.get(f"{server.url}/api/me", headers=user.headers, timeout=TIMEOUT)
        for _ in range(12)
    ]
    writes = [raw_put(server, user, f"{FOLDER}/tok-{n}.txt", b"x" * n) for n in range(1, 9)]

    responses = at_once(reads + writes)

    assert_no_server_errors(responses, server)
    assert statuses(responses) == [200] * 12 + [201] * 8
    assert len(listed(server, user)) == 8
