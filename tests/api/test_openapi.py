"""The OpenAPI document, derived from the views (docs/api.md), and the docs page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Blueprint, Flask, Response
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from upload_service.api.described import Reply, documented
from upload_service.api.openapi import UndocumentedView, build_openapi, openapi_path

JSON = "application/json"


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def served_operations(app: Flask) -> set[tuple[str, str]]:
    """``(method, OpenAPI path)`` of every API route of ``app``, read off ``app.url_map``."""
    served = set()
    for rule in app.url_map.iter_rules():
        if not app.view_functions[rule.endpoint].__module__.startswith("upload_service.api."):
            continue
        methods = set(rule.methods or ()) - {"OPTIONS"}
        if "GET" in methods:
            methods.discard("HEAD")  # Flask answers HEAD for every GET
        served |= {(method, openapi_path(rule.rule)) for method in methods}
    return served


def validator_for(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator for ``schema``, its ``$ref``s resolved in ``document``."""
    return Draft202012Validator({**schema, "components": document["components"]})


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_api_route_is_in_the_document_and_nothing_else(
    app: Flask, document: dict[str, Any]
) -> None:
    documented_ops = {(method, path) for method, path, _ in operations(document)}
    served = served_operations(app)
    assert ("PUT", "/api/upload") in served and ("GET", "/metrics") in served
    assert sorted(served - documented_ops) == []
    # HEAD is documented separately only where it answers differently from the GET.
    extra = documented_ops - served
    assert extra == {("HEAD", "/api/fs/{path}")}
    assert ("GET", "/api/fs/{path}") in served


def app_serving(view: Any, rule: str) -> Flask:
    """A bare app whose one API route ``rule`` is served by ``view``."""
    view.__module__ = "upload_service.api.example"
    app = Flask(__name__)
    bp = Blueprint("example", __name__)
    bp.add_url_rule(rule, view_func=view)
    app.register_blueprint(bp)
    return app


def test_a_view_without_a_description_stops_the_build() -> None:
    def undocumented() -> Response:
        return Response()

    with pytest.raises(UndocumentedView, match="/api/example"):
        build_openapi(app_serving(undocumented, "/api/example"))


def test_a_path_variable_without_a_description_stops_the_build() -> None:
    @documented({200: Reply("OK.")})
    def mystery(thing: str) -> Response:
        """Something"""
        return Response()

    with pytest.raises(UndocumentedView, match="thing"):
        build_openapi(app_serving(mystery, "/api/example/<thing>"))


def test_summaries_are_the_view_docstrings_and_tags_the_blueprints(
    app: Flask, document: dict[str, Any]
) -> None:
    persist = document["paths"]["/api/upload_temporary/{token}/persist"]["post"]
    view = app.view_functions["uploads.temporary_persist"]
    assert persist["summary"] == (view.__doc__ or "").strip().splitlines()[0]
    assert "on_conflict" in persist["description"]
    assert persist["tags"] == ["uploads"]
    tags = {tag["name"]: tag["description"] for tag in document["tags"]}
    assert tags["uploads"].startswith("The original Upload Service API")
    for _, _, operation in operations(document):
        assert operation["tags"][0] in tags
        assert operation["summary"] and not operation["summary"].endswith(".")


def test_errors_share_one_schema(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"success", "error", "code", "details"}
    for method, path, operation in operations(document):
        for status, reply in operation["responses"].items():
            if int(status) >= 400 and path != "/readyz":
                schema = reply["content"][JSON]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path)
        if operation.get("security") != []:
            assert {"401", "429"} <= operation["responses"].keys(), (method, path)


def test_only_the_probes_and_metrics_are_never_rate_limited(document: dict[str, Any]) -> None:
    unlimited = {path for _, path, op in operations(document) if "429" not in op["responses"]}
    assert unlimited == {"/healthz", "/readyz", "/metrics"}


def test_bodies_and_queries_are_the_models_the_views_validate_with(
    document: dict[str, Any], client: FlaskClient, alice: Any
) -> None:
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
    # What the document says is what the view enforces, because it is the same model.
    too_many = client.get("/api/files?limit=1001", headers=alice.headers)
    assert too_many.status_code == 400
    move = document["paths"]["/api/fs/move"]["post"]["requestBody"]["content"]
    assert move[JSON]["schema"] == {"$ref": "#/components/schemas/MoveIn"}
    assert "from" in schemas["MoveIn"]["properties"]  # the alias the view accepts
    persist = document["paths"]["/api/upload_temporary/{token}/persist"]["post"]
    assert persist["requestBody"]["required"] is False
    assert document["paths"]["/api/tokens"]["post"]["requestBody"]["required"] is True


def test_every_example_is_valid_for_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for schema in document["components"]["schemas"].values():
        for example in schema.get("examples", []):
            validator_for(document, schema).validate(example)
            checked += 1
    for _, _, operation in operations(document):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            if "example" in media:
                validator_for(document, media["schema"]).validate(media["example"])
                checked += 1
        for param in operation.get("parameters", []):
            if param["in"] != "path" and "example" in param:
                validator_for(document, param["schema"]).validate(param["example"])
    assert checked >= 10


def test_an_invalid_example_is_caught(document: dict[str, Any]) -> None:
    file_out = document["components"]["schemas"]["FileOut"]
    broken = {**file_out["examples"][0], "size": "large"}
    assert not validator_for(document, file_out).is_valid(broken)


def test_credentials_are_needed_exactly_where_the_document_says(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    for method, path, operation in operations(document):
        url = re.sub(r"\{[^}]+\}", "x", path)
        response = client.open(url, method=method, headers={"Tus-Resumable": "1.0.0"})
        if operation.get("security") == []:
            assert response.status_code != 401, (method, path)
        else:
            assert response.status_code == 401, (method, path, response.status_code)


def test_every_operation_has_a_curl_sample(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        [sample] = operation["x-codeSamples"]
        source = sample["source"]
        assert source.startswith("curl"), (method, path)
        assert '"$UPLOAD_SERVICE_URL/' in source
        needs_token = operation.get("security") != []
        assert ("Authorization: Bearer $UPLOAD_SERVICE_TOKEN" in source) == needs_token
    upload = document["paths"]["/api/upload"]["put"]["x-codeSamples"][0]["source"]
    assert "curl -X PUT" in upload and "aGVsbG8gd29ybGQK" in upload
    assert (
        "-T ./report.pdf"
        in document["paths"]["/api/fs/{path}"]["put"]["x-codeSamples"][0]["source"]
    )


def test_docs_page_loads_the_vendored_viewer_only(client: FlaskClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'src="/static/vendor/redoc/redoc.standalone.js' in page
    assert 'data-spec-url="/api/openapi.json"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no CDN
    assert 'href="/"' in page  # back to the app
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy
    script = client.get("/static/vendor/redoc/redoc.standalone.js")
    assert script.status_code == 200 and b"Redoc" in script.data[:4096]
    script.close()
