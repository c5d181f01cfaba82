"""The OpenAPI document and the docs page (docs/architecture.md §8)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from pydantic import BaseModel

from upload_service.api.openapi import OPERATIONS, route_shape, served_operations


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), route_shape(path))
        for path, operations in document["paths"].items()
        for method in operations
    }


def test_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_route_is_documented_with_its_methods(app: Flask, client: FlaskClient) -> None:
    documented = documented_operations(client.get("/api/openapi.json").json)
    served = served_operations(app)
    api_routes = {(method, path) for method, path in served if path.startswith("/api/")}
    assert api_routes, "the app has no /api/ routes?"
    missing = sorted(api_routes - documented)
    assert not missing, f"routes missing from the OPERATIONS table in api/openapi.py: {missing}"
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert ("GET", probe) in documented


def test_every_documented_operation_is_served(app: Flask, client: FlaskClient) -> None:
    documented = documented_operations(client.get("/api/openapi.json").json)
    served = served_operations(app)
    # HEAD is answered for every GET; the table lists it where the contract names it.
    served |= {("HEAD", path) for method, path in served if method == "GET"}
    assert sorted(documented - served) == []


def test_errors_share_one_schema(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").json
    error = document["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"success", "error", "code", "details"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, reply in operation["responses"].items():
                if int(status) >= 400 and path != "/readyz":
                    schema = reply["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path)
            if operation.get("security") != []:
                assert {"401", "429"} <= operation["responses"].keys(), (method, path)


def test_bodies_and_responses_come_from_the_view_models(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").json
    schemas = document["components"]["schemas"]
    for name in ("FileOut", "FileList", "MoveIn", "TokenCreate", "MeOut", "Base64File"):
        assert name in schemas
    listing = document["paths"]["/api/files"]["get"]
    parameters = {param["name"]: param for param in listing["parameters"]}
    assert parameters["limit"]["schema"]["maximum"] == 1000
    assert parameters["sort"]["schema"]["enum"] == [
        "name",
        "path",
        "size",
        "created_at",
        "updated_at",
    ]
    move = document["paths"]["/api/fs/move"]["post"]["requestBody"]["content"]
    assert move["application/json"]["schema"] == {"$ref": "#/components/schemas/MoveIn"}
    assert "from" in schemas["MoveIn"]["properties"]  # the alias the view accepts


def test_body_examples_are_valid_for_their_models() -> None:
    checked = 0
    for operation in OPERATIONS:
        body = operation.body
        if body is None or body.example is None or not isinstance(body.schema, type):
            continue
        model: type[BaseModel] = body.schema
        data = {body.field: body.example} if body.field else body.example
        model.model_validate(data)
        checked += 1
    assert checked >= 5


def test_docs_page_lists_every_operation_with_a_curl_example(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").json
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert f'id="{operation["operationId"]}"' in page, (method, path)
            assert f"<code>{method.upper()} {path}</code>" in page
    assert "Authorization: Bearer $UPLOAD_SERVICE_TOKEN" in page
    assert "curl -X PUT" in page and "http://localhost/api/upload" in page
    assert '<a href="#schema-FileOut"><code>FileOut</code></a>' in page
    assert 'id="schema-FileOut"' in page
    assert "<script" not in page  # no JS framework, no CDN
    assert not re.search(r'(src|href)="https?://', page)
