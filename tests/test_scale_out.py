"""Scale-out: two stateless instances on one PostgreSQL, one S3 bucket and one Redis.

Two real ``upload-service serve`` processes, A and B, each with its own port and its own
``DATA_DIR`` (nothing is shared through local disk), share what docs/scaling.md says must be
shared: ``SECRET_KEY``, ``DATABASE_URL`` (a fresh PostgreSQL database per run), ``STORAGE_URL``
(a fresh bucket on the moto S3 server) and ``RATELIMIT_STORAGE_URI`` (Redis, with a key prefix of
this run). Everything is checked through the HTTP API and the ``upload-service`` command, as a
user or an operator would: whatever one instance accepts, the other one sees.

The pair starts once per module (the ``cluster`` fixture); each test makes its own user and
token (:meth:`Cluster.new_user`) and its own paths, so tests neither share files nor rate limit
budgets. PostgreSQL and Redis are not optional here: without them the module fails, it does not
skip (``./dev test`` starts both when they are installed; CI always has them).

A test of another cross-instance flow has the same shape: ``user = cluster.new_user("name")``,
a request to ``cluster.a``, then the follow-up to ``cluster.b`` (``http(user)`` sends the
bearer token). Mind the budget: a user may make :data:`RATE_LIMIT` requests a minute,
and anonymous requests (sign-in pages, signed links of this service) share one budget, that of
127.0.0.1, across the module; presigned S3 URLs go to moto and cost nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
import redis
import requests
from sqlalchemy import select, update

from tests.fixtures.database import PG_ADMIN_URL, fresh_postgres_database, postgres_problem
from tests.fixtures.s3 import AWS_TEST_ENV, S3_REGION, remove_bucket
from tests.fixtures.server import RunningServer, running_server
from upload_service.db import Database
from upload_service.models import File, Lease, TemporaryUpload, User, utcnow
from upload_service.services.links import sign_download_link
from upload_service.services.tokens import create_api_token
from upload_service.sweeper import LEASE_NAME, acquire_lease, release_lease

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RATE_LIMIT = 10  # per minute, per user: small enough to spend in a test
TIMEOUT = 60
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_HTMX_CSRF = re.compile(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'")


@dataclass
class Member:
    """A user of the cluster with an API token (a user has its own rate limit budget)."""

    id: int
    login: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Cluster:
    a: RunningServer
    b: RunningServer
    db: Database  # the shared database, to look behind the instances' backs
    settings: dict[str, str]  # what both instances were started with
    redis: redis.Redis

    def new_user(self, name: str) -> Member:
        """A user of its own for one test, with an API token (through the real services)."""
        login = f"{name}-{secrets.token_hex(3)}"
        with self.db.session() as session:
            user = User(login=login, name=name.title())
            session.add(user)
            session.flush()
            _row, plaintext = create_api_token(session, user, "scale-out tests")
            return Member(id=user.id, login=login, token=plaintext)


def _require_postgres() -> None:
    problem = postgres_problem()
    if problem:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is needed for the scale-out test ({problem})")


def _require_redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is needed for the scale-out test ({exc})")
    return client


@pytest.fixture(scope="module")
def cluster(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _require_postgres()
    redis_client = _require_redis()
    prefix = f"upload-service-scale-out-{secrets.token_hex(8)}"
    bucket = f"scale-out-{secrets.token_hex(6)}"
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name=S3_REGION,
        aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    with ExitStack() as stack:
        s3.create_bucket(Bucket=bucket)
        stack.callback(remove_bucket, s3, bucket)
        stack.callback(_forget_counters, redis_client, prefix)
        database_url = stack.enter_context(fresh_postgres_database())
        settings = {
            **AWS_TEST_ENV,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": database_url,
            "STORAGE_URL": f"s3://{bucket}/uploads",
            "S3_ENDPOINT_URL": moto_server,
            "S3_REGION": S3_REGION,
            "RATELIMIT_STORAGE_URI": REDIS_URL,
            "RATELIMIT_KEY_PREFIX": prefix,
            "RATELIMIT_DEFAULT": f"{RATE_LIMIT} per minute",
            # Migrations run once, as a release step, not by every instance that starts.
            "AUTO_MIGRATE": "false",
            # The sweeper test alone decides who sweeps (the thread runs the same sweep_once).
            "SWEEP_INTERVAL": "0",
            "WORKERS": "1",
        }
        servers = [
            stack.enter_context(running_server(tmp_path_factory.mktemp(name), **settings))
            for name in ("instance-a", "instance-b")
        ]
        db = Database(database_url)
        stack.callback(db.dispose)
        yield Cluster(servers[0], servers[1], db, settings, redis_client)


def _forget_counters(client: redis.Redis, prefix: str) -> None:
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


def http(member: Member) -> requests.Session:
    """A client that sends ``member``'s bearer token."""
    session = requests.Session()
    session.headers.update(member.headers)
    return session


def ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    return response.json() if response.content else None


def listed_paths(server: RunningServer, client: requests.Session, folder: str) -> list[str]:
    response = client.get(f"{server.url}/api/files", params={"folder": folder}, timeout=TIMEOUT)
    return [item["path"] for item in ok(response)["items"]]


# -- 1. files -------------------------------------------------------------------------------


def test_a_file_uploaded_on_a_is_listed_and_downloaded_on_b(cluster: Cluster) -> None:
    client = http(cluster.new_user("files"))
    data = os.urandom(9 * 1024 * 1024)  # above one S3 part (8 MiB): a multipart upload on A
    path = "shared/big.bin"

    put = client.put(f"{cluster.a.url}/api/fs/{path}", data=data, timeout=TIMEOUT)
    created = ok(put, 201)

    assert listed_paths(cluster.b, client, "shared") == [path]
    download = client.get(f"{cluster.b.url}/api/files/{created['id']}/content", timeout=TIMEOUT)
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'


# -- 2. temporary uploads -------------------------------------------------------------------


def test_a_temporary_upload_made_on_a_is_persisted_on_b(cluster: Cluster) -> None:
    client = http(cluster.new_user("attach"))
    body = [{"filename": "note.txt", "content": "aGVsbG8gZnJvbSBB"}]  # "hello from A"

    temporary = ok(client.put(f"{cluster.a.url}/api/upload_temporary", json=body), 201)
    assert listed_paths(cluster.b, client, "attached") == []  # temporary: not listed yet

    url = f"{cluster.b.url}/api/upload_temporary/{temporary['token']}/persist"
    persisted = ok(client.post(url, json={"folder": "attached"}, timeout=TIMEOUT))

    assert [file["path"] for file in persisted["files"]] == ["attached/note.txt"]
    assert listed_paths(cluster.a, client, "attached") == ["attached/note.txt"]
    download = client.get(persisted["files"][0]["download_url"], timeout=TIMEOUT)
    assert download.content == b"hello from A"


# -- 3. rate limits -------------------------------------------------------------------------


def test_the_rate_limit_budget_is_shared_by_both_instances(cluster: Cluster) -> None:
    client = http(cluster.new_user("limited"))
    for n in range(RATE_LIMIT):  # the first half on A, the rest on B
        server = cluster.a if n < RATE_LIMIT // 2 else cluster.b
        response = client.get(f"{server.url}/api/me", timeout=TIMEOUT)
        assert response.status_code == 200, (n, response.text)
        assert response.headers["X-RateLimit-Remaining"] == str(RATE_LIMIT - n - 1)

    for server in (cluster.a, cluster.b):
        refused = client.get(f"{server.url}/api/me", timeout=TIMEOUT)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert 0 <= int(refused.headers["Retry-After"]) <= 60
    # Another user still has a budget of their own.
    assert http(cluster.new_user("other")).get(f"{cluster.b.url}/api/me").status_code == 200
    # The counters are in Redis, under this deployment's prefix.
    prefix = cluster.settings["RATELIMIT_KEY_PREFIX"]
    assert list(cluster.redis.scan_iter(match=f"*{prefix}*"))


# -- 4. the sweeper lease -------------------------------------------------------------------


def sweep_on(server: RunningServer) -> str:
    """``upload-service sweep`` with the instance's settings; its one output line."""
    result = server.command("sweep")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def expire_temporary_upload(cluster: Cluster, member: Member) -> str:
    """A temporary upload made on A whose time is up (the clock moved on, so to speak)."""
    body = [{"filename": "stale.txt", "content": "c3RhbGU="}]
    client = http(member)
    token: str = ok(client.put(f"{cluster.a.url}/api/upload_temporary", json=body), 201)["token"]
    past = utcnow() - timedelta(minutes=1)
    with cluster.db.session() as session:
        session.execute(
            update(TemporaryUpload).where(TemporaryUpload.id == token).values(expires_at=past)
        )
        session.execute(update(File).where(File.temp_upload_id == token).values(expires_at=past))
    return token


def sweep_at_once(*servers: RunningServer) -> list[str]:
    """``upload-service sweep`` on each of ``servers``, released together; their outputs."""
    barrier = threading.Barrier(len(servers))

    def sweep(server: RunningServer) -> str:
        barrier.wait(timeout=TIMEOUT)
        return sweep_on(server)

    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        return list(pool.map(sweep, servers))


def test_only_one_sweeper_works_at_a_time_across_instances(cluster: Cluster) -> None:
    token = expire_temporary_upload(cluster, cluster.new_user("sweep"))
    holder = "instance-a.example:4242:cafe0001"  # A's sweeper, in the middle of a sweep

    assert acquire_lease(cluster.db, LEASE_NAME, holder, utcnow(), timedelta(minutes=5))
    try:
        for output in sweep_at_once(cluster.a, cluster.b):
            assert output.startswith("sweep skipped: another sweeper holds the lease"), output
            assert holder in output
        with cluster.db.session() as session:
            assert session.get(TemporaryUpload, token) is not None  # nobody swept it
            lease = session.get(Lease, LEASE_NAME)
            assert lease is not None and lease.holder == holder
    finally:
        release_lease(cluster.db, LEASE_NAME, holder)

    # Both instances sweep at once: the expired upload is removed once, and no run fails.
    outputs = sweep_at_once(cluster.a, cluster.b)
    removed = [re.search(r"(\d+) expired temporary upload", line) for line in outputs]
    assert sum(int(match.group(1)) for match in removed if match) == 1, outputs
    for line in outputs:
        assert line.startswith(("sweep: ", "sweep skipped: another sweeper holds")), line
    with cluster.db.session() as session:
        assert session.get(TemporaryUpload, token) is None
        assert session.get(Lease, LEASE_NAME) is None  # every sweep released its lease


def test_a_crashed_sweepers_lease_expires_and_another_instance_takes_over(
    cluster: Cluster,
) -> None:
    token = expire_temporary_upload(cluster, cluster.new_user("crash"))
    crashed = "instance-a.example:4243:dead0001"
    long_ago = utcnow() - timedelta(hours=1)
    assert acquire_lease(cluster.db, LEASE_NAME, crashed, long_ago, timedelta(minutes=5))

    output = sweep_on(cluster.b)

    assert output.startswith("sweep: "), output
    assert "1 expired temporary upload(s)" in output
    with cluster.db.session() as session:
        assert session.get(TemporaryUpload, token) is None
        assert session.scalars(select(Lease).where(Lease.name == LEASE_NAME)).first() is None


# -- 5. sessions and signed links -----------------------------------------------------------


def sign_in_locally(server: RunningServer) -> requests.Session:
    """Sign in on ``server`` as the local user, the way the browser's sign-in page does."""
    browser = requests.Session()
    page = browser.get(f"{server.url}/login", timeout=TIMEOUT)
    match = _CSRF_FIELD.search(page.text)
    assert match, "the sign-in page has no CSRF field"
    form = {"csrf_token": match.group(1), "next": "/"}
    signed_in = browser.post(
        f"{server.url}/login/local", data=form, allow_redirects=False, timeout=TIMEOUT
    )
    assert signed_in.status_code == 302, signed_in.text
    return browser


def test_a_session_cookie_made_by_a_works_on_b(cluster: Cluster) -> None:
    on_a = sign_in_locally(cluster.a)
    csrf = _HTMX_CSRF.search(on_a.get(f"{cluster.a.url}/", timeout=TIMEOUT).text)
    assert csrf, "the page does not hand htmx a CSRF token"
    cookie = on_a.cookies.get("upload_service_session")
    assert cookie

    on_b = requests.Session()  # only the cookie travels, as through a load balancer
    on_b.cookies.set("upload_service_session", cookie)
    me = ok(on_b.get(f"{cluster.b.url}/api/me", timeout=TIMEOUT))
    assert me["login"] == "local"
    assert "Signed in as Local user" in on_b.get(f"{cluster.b.url}/", timeout=TIMEOUT).text
    # A write with that cookie needs the CSRF token, and the one from A's page is valid on B.
    folder = f"{cluster.b.url}/api/folders/from-a-{secrets.token_hex(3)}"
    assert on_b.put(folder, timeout=TIMEOUT).status_code in (400, 403)
    ok(on_b.put(folder, headers={"X-CSRFToken": csrf.group(1)}, timeout=TIMEOUT), 201)

    anonymous = requests.get(f"{cluster.b.url}/api/me", timeout=TIMEOUT)
    assert anonymous.status_code == 401  # it is the cookie that signs in, not the address


def test_a_signed_download_link_made_by_a_works_without_credentials(cluster: Cluster) -> None:
    member = cluster.new_user("links")
    client = http(member)
    data = b"shared through a link"
    file = ok(client.put(f"{cluster.a.url}/api/fs/linked.txt", data=data, timeout=TIMEOUT), 201)

    link = ok(client.post(f"{cluster.a.url}/api/files/{file['id']}/link", json={"expires_in": 600}))

    # With S3 storage the link is a presigned S3 URL: no instance has to be up to serve it.
    assert link["url"].startswith(cluster.settings["S3_ENDPOINT_URL"])
    download = requests.get(link["url"], timeout=TIMEOUT)
    assert download.status_code == 200 and download.content == data


def test_a_link_signed_with_the_shared_key_is_honoured_by_b(cluster: Cluster) -> None:
    """Links of this service (local storage) are signed with SECRET_KEY: any instance checks."""
    member = cluster.new_user("signed")
    client = http(member)
    data = b"signed by one, served by another"
    created = ok(client.put(f"{cluster.a.url}/api/fs/signed.txt", data=data), 201)
    with cluster.db.session() as session:
        file = session.get(File, created["id"])
        assert file is not None
        expires = utcnow() + timedelta(minutes=10)
        shared = sign_download_link(cluster.settings["SECRET_KEY"], file, expires)
        foreign = sign_download_link("another deployment's key", file, expires)

    served = requests.get(f"{cluster.b.url}/api/links/{shared}", timeout=TIMEOUT)
    assert served.status_code == 200 and served.content == data
    refused = requests.get(f"{cluster.b.url}/api/links/{foreign}", timeout=TIMEOUT)
    assert refused.status_code == 403


# -- 6. signed direct uploads -----------------------------------------------------------------


def test_a_signed_upload_requested_on_a_completes_on_b(cluster: Cluster) -> None:
    client = http(cluster.new_user("direct"))
    data = os.urandom(300_000)
    digest = hashlib.sha256(data).hexdigest()
    body = {"path": "direct/posted.bin", "size": len(data), "sha256": digest}
    signed = ok(client.post(f"{cluster.a.url}/api/uploads", json=body, timeout=TIMEOUT), 201)
    assert signed["method"] == "POST" and signed["url"].startswith(
        cluster.settings["S3_ENDPOINT_URL"]
    )

    posted = requests.post(
        signed["url"], data=signed["fields"], files={"file": ("posted.bin", data)}, timeout=TIMEOUT
    )
    assert posted.status_code in (200, 201, 204), posted.text
    status = ok(client.get(f"{cluster.b.url}/api/uploads/{signed['upload_id']}", timeout=TIMEOUT))
    assert status["state"] == "pending"
    done = ok(
        client.post(f"{cluster.b.url}/api/uploads/{signed['upload_id']}/complete", timeout=TIMEOUT)
    )
    assert done["file"]["sha256"] == digest
    download = client.get(
        f"{cluster.a.url}/api/files/{done['file']['id']}/content", timeout=TIMEOUT
    )
    assert download.content == data
