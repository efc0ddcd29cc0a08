# syntax=docker/dockerfile:1
# Build stage: the runtime dependencies into a virtualenv, exactly as pinned and hashed in requirements.lock
# (reproducible: any other version or a tampered file fails the build). No test tools: the lock holds only
# pyproject's runtime dependencies (./scripts/lock regenerates it).
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock

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
