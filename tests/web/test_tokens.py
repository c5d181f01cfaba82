"""API tokens: created in the page, shown once, used from a script, revoked."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.fixtures.server import RunningServer
from tests.web.helpers import SignedIn, screenshot


def test_create_a_token_use_it_from_a_script_and_revoke_it(
    signed_in: SignedIn, web_server: RunningServer
) -> None:
    page = signed_in.page
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="No tokens yet")).to_be_visible()
    expect(page.locator("#snippet")).to_contain_text(
        f'curl -H "Authorization: Bearer $UPLOAD_SERVICE_TOKEN" {web_server.url}/api/me'
    )

    page.get_by_label("Name").fill("backup script")
    page.get_by_label("Expires").select_option(label="90 days")
    page.get_by_role("button", name="Create token").click()

    expect(
        page.get_by_role("heading", name="Copy your new token “backup script” now")
    ).to_be_visible()
    token = page.get_by_label("New API token").input_value()
    assert re.fullmatch(r"us_[\w-]{40,}", token)
    expect(page.locator("#new-token-snippet")).to_contain_text(
        f"export UPLOAD_SERVICE_URL={web_server.url} UPLOAD_SERVICE_TOKEN={token}"
    )
    screenshot(page, "tokens")

    me = requests.get(
        f"{web_server.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert me.status_code == 200
    assert me.json()["login"] == signed_in.account.login

    page.reload()  # shown once: the plaintext is gone, the token is listed
    assert token not in page.content()
    row = page.locator(".token-row", has_text="backup script")
    expect(row.locator(".badge")).to_have_text("Active")
    expect(row.locator("code")).to_have_text(token[:10] + "…")
    expect(row.locator("td[data-label='Last used'] time")).to_have_count(1)  # used just now

    row.get_by_text("Revoke…").click()
    row.get_by_role("button", name="Revoke token").click()
    revoked = page.locator(".token-row", has_text="backup script")
    expect(revoked.locator(".badge")).to_have_text("Revoked")
    expect(page.get_by_role("status")).to_have_text("Revoked the token backup script.")
    refused = requests.get(
        f"{web_server.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert refused.status_code == 401


def test_a_token_needs_a_name(signed_in: SignedIn) -> None:
    page = signed_in.page
    page.goto("/tokens")
    page.get_by_label("Name").evaluate("input => input.removeAttribute('required')")

    page.get_by_role("button", name="Create token").click()

    error = page.locator("#tokens form .form-errors .error")
    expect(error).to_have_text("Give the token a name of 1 to 100 characters.")
    expect(page.locator(".token-row")).to_have_count(0)
