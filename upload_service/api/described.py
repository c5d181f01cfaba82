"""What each API view says about itself; :mod:`api.openapi` turns it into the OpenAPI document.

A view is described where it is written (docs/api.md):

- its route and methods come from the ``@bp.get(...)`` above it (``app.url_map``);
- its summary is the first line of its docstring, the rest of the docstring its description;
- a JSON body is the parameter ``body: SomeModel`` of the view and a query string the parameter
  ``query: SomeModel``: :func:`documented` validates the request with that very model and passes
  the result in, so the model that validates is the model described;
- the answers, the errors and anything no model can say (headers, raw or multipart bodies) are
  the arguments of :func:`documented`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_type_hints

from pydantic import BaseModel, TypeAdapter

from upload_service.api.common import json_body, query_args
from upload_service.auth.current import require_user
from upload_service.schemas.files import OnConflict

JSON = "application/json"
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
ANY_BYTES = "*/*"  # a stored file is served with its own content type

Schema = type[BaseModel] | dict[str, Any]
View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Content:
    """A body: a pydantic model (or one field of it), or a literal schema for raw bytes."""

    schema: Schema
    media_type: str = JSON
    field: str | None = None  # the body is this field of the model, e.g. a bare JSON array
    example: Any = None


@dataclass(frozen=True)
class Reply:
    description: str
    content: tuple[Content, ...] = ()
    headers: tuple[str, ...] = ()  # names in openapi.RESPONSE_HEADERS


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    schema: dict[str, Any]
    description: str = ""
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class Head:
    """A ``HEAD`` documented apart from the ``GET`` whose view answers it."""

    summary: str
    replies: Mapping[int, Reply]


@dataclass(frozen=True)
class Described:
    """Everything :func:`documented` was told, plus what it read off the view."""

    summary: str
    description: str
    replies: Mapping[int, Reply]
    errors: tuple[int, ...]
    body: Content | None
    body_required: bool
    query: type[BaseModel] | None
    params: tuple[Param, ...]
    public: bool
    head: Head | None


def documented(
    replies: Mapping[int, Reply],
    *,
    errors: tuple[int, ...] = (),
    params: tuple[Param, ...] = (),
    body: Content | None = None,
    example: Any = None,
    optional_body: bool = False,
    public: bool = False,
    head: Head | None = None,
) -> Callable[[View], View]:
    """Describe a view for the OpenAPI document and validate its ``body``/``query`` parameters.

    ``body`` is only for bodies the view reads itself (raw bytes, multipart, a bare JSON array);
    ``example`` is the example of the JSON body the signature names. ``public`` views need no
    credentials; ``head`` documents a ``HEAD`` that differs from the ``GET`` it shares a view with.
    """

    def decorate(view: View) -> View:
        body_model, query_model = _models_in_signature(view)
        summary, _, rest = inspect.cleandoc(view.__doc__ or "").partition("\n")
        if not summary:
            raise TypeError(f"{view.__qualname__}: an API view's docstring is its summary")
        if body_model is not None:
            body_content: Content | None = Content(body_model, example=example)
        else:
            body_content = body
        description = Described(
            summary=summary.strip(),
            description=" ".join(rest.split()),
            replies=replies,
            errors=errors,
            body=body_content,
            body_required=not optional_body,
            query=query_model,
            params=params,
            public=public,
            head=head,
        )
        wrapper = _with_request_models(view, description, body_model)
        wrapper.described = description  # type: ignore[attr-defined]
        return wrapper

    return decorate


def described(view: Callable[..., Any]) -> Described | None:
    """What :func:`documented` recorded for ``view``, or ``None``."""
    value = getattr(view, "described", None)
    return value if isinstance(value, Described) else None


def _models_in_signature(
    view: Callable[..., Any],
) -> tuple[type[BaseModel] | None, type[BaseModel] | None]:
    hints = get_type_hints(view)
    found = []
    for name in ("body", "query"):
        model = hints.get(name)
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"{view.__qualname__}: {name} must be annotated with a pydantic model")
        found.append(model)
    return found[0], found[1]


def _with_request_models(view: View, doc: Described, body_model: type[BaseModel] | None) -> View:
    """``view``, given its validated ``body`` and ``query``; credentials are checked first, so an
    anonymous request is told 401 whatever its body."""
    query_model = doc.query
    if body_model is None and query_model is None:
        return view

    @functools.wraps(view)
    def validated(**kwargs: Any) -> Any:
        if not doc.public:
            require_user()
        if body_model is not None:
            kwargs["body"] = json_body(body_model, optional=not doc.body_required)
        if query_model is not None:
            kwargs["query"] = query_args(query_model)
        return view(**kwargs)

    return validated  # type: ignore[return-value]


# --- The vocabulary several views share -----------------------------------------------------------


def json_reply(description: str, model: type[BaseModel], *headers: str) -> Reply:
    return Reply(description, (Content(model),), headers)


def bytes_reply(description: str, *headers: str) -> Reply:
    return Reply(description, (Content(BINARY, ANY_BYTES),), headers)


def text_reply(description: str, media_type: str) -> Reply:
    return Reply(description, (Content({"type": "string"}, media_type),))


def path_param(name: str, description: str, example: str | None = None) -> Param:
    schema = {"type": "string", "minLength": 1}
    return Param(name, "path", schema, description, required=True, example=example)


def header(name: str, description: str) -> Param:
    return Param(name, "header", {"type": "string"}, description)


def query_flag(name: str, description: str) -> Param:
    return Param(name, "query", {"type": "boolean", "default": False}, description)


# Path variables with the same meaning wherever they appear; a view names any other itself.
PATH_PARAMS = {
    param.name: param
    for param in (
        path_param("file_id", "The file's public id.", "$FILE_ID"),
        path_param(
            "path",
            "A path such as `docs/report.pdf` (`/`-separated, no leading `/`).",
            "docs/report.pdf",
        ),
        path_param("upload_id", "The `upload_id` from `POST /api/uploads`.", "$UPLOAD_ID"),
    )
}
ON_CONFLICT = Param(
    "on_conflict",
    "query",
    TypeAdapter(OnConflict).json_schema(),
    "What to do when the path exists: `error` (409), `replace` or `rename`.",
)
IF_MATCH = header("If-Match", 'Proceed only if the current content is `"<sha256>"` (else 412).')
DOWNLOAD_HEADERS = (
    header("Range", "A single byte range, e.g. `bytes=0-99` (206, or 416)."),
    header("If-Range", "Honour `Range` only if the ETag still matches."),
    header("If-None-Match", "The ETag the client has (304 when unchanged)."),
)
DOWNLOAD_REPLIES = {
    200: bytes_reply("The file's bytes.", "ETag", "Content-Disposition"),
    206: bytes_reply("The requested range.", "ETag", "Content-Range", "Content-Disposition"),
    304: Reply("Unchanged since the ETag the client sent.", (), ("ETag",)),
}
