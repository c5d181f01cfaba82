# syntax=docker/dockerfile:1
#
# Upload Service image. Build: docker build -t upload-service .
# Run:   docker run --env-file .env -p 8000:8000 -v upload-data:/data upload-service
#
# The builder installs exactly the versions in poetry.lock (as the tests do: `poetry install`),
# then adds the app itself as a wheel, so the image runs from an installed package, not a checkout.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    POETRY_NO_INTERACTION=1 \
    POETRY_VIRTUALENVS_CREATE=false \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/poetry \
    && /opt/poetry/bin/pip install poetry==2.5.1 \
    && python -m venv /opt/venv

WORKDIR /src

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml poetry.lock README.md ./
RUN /opt/poetry/bin/poetry install --only main --no-root

COPY upload_service ./upload_service
RUN /opt/poetry/bin/poetry build --format wheel \
    && pip install --no-deps dist/*.whl


FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8000

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin app \
    && mkdir -p /data /app \
    && chown app:app /data

COPY --from=builder /opt/venv /opt/venv

# An empty working directory, so no stray .env is read; settings come from the environment.
WORKDIR /app
USER app
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["upload-service", "serve"]
