# syntax=docker/dockerfile:1
# Build stage: the runtime dependencies into a virtualenv, exactly as uv.lock pins and hashes them (the same lock
# the scripts and the tests install from; any other version or a tampered file fails the build). uv itself comes
# from scripts/uv-requirements.txt, one version with its hashes. No test tools: --no-dev leaves the dev group out.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
COPY scripts/uv-requirements.txt /tmp/uv-requirements.txt
RUN python -m venv /opt/uv \
    && /opt/uv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/uv-requirements.txt
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN /opt/uv/bin/uv sync --locked --no-dev --no-install-project --python /usr/local/bin/python

# Runtime stage: the virtualenv and the app's source, run as an unprivileged user.
FROM python:3.11-slim AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONPATH=/srv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
RUN groupadd --system orbix && useradd --system --gid orbix --no-create-home --shell /usr/sbin/nologin orbix
COPY --from=build /opt/venv /opt/venv
COPY app /srv/app
USER orbix
WORKDIR /srv
EXPOSE 8000
# No curl in a slim image: the health check is a few lines of the Python that is already there. Healthy means
# ready: /ready answers 503 (urlopen raises) while the database is away.
HEALTHCHECK --interval=10s --timeout=6s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ready' % os.environ.get('PORT', '8000'), timeout=5)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "app"]
