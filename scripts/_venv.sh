# Sourced by the scripts: make sure .venv holds exactly what uv.lock pins (hashes checked).
# Usage: ensure_venv dev (runtime and test tools) or ensure_venv runtime (what the image installs).
# uv itself comes from scripts/uv-requirements.txt (one version, hashed) into .tools/, so a machine needs only
# python3 with its venv module.
ensure_venv() {
    local groups="$1"
    local python="${PYTHON:-python3}"
    command -v "$python" >/dev/null 2>&1 \
        || { echo "orbix: $python not found: install Python 3.11 or newer (or set PYTHON=...)" >&2; exit 1; }
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "orbix: Python 3.11 or newer is required; $python is $("$python" --version 2>&1)" >&2; exit 1; }
    _orbix_uv_tool "$python"
    local want stamp=.venv/.orbix-installed
    want="$(cat uv.lock pyproject.toml scripts/uv-requirements.txt | "$python" -c \
        'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])') $groups"
    # A runtime-only request is satisfied by a dev install of the same lock.
    if [ -x .venv/bin/python ] && { [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
        || { [ "$groups" = runtime ] && [ "$(cat "$stamp" 2>/dev/null)" = "${want% runtime} dev" ]; }; }; then
        return 0
    fi
    echo "orbix: installing the locked dependencies into .venv" >&2
    local args=(sync --locked --quiet --python "$python")
    [ "$groups" = runtime ] && args+=(--no-dev)
    # Never stamp a failed install: the stamp means "done", and a stamped venv is never installed into again.
    rm -f "$stamp"
    UV_PROJECT_ENVIRONMENT=.venv UV_PYTHON_DOWNLOADS=never .tools/bin/uv "${args[@]}" \
        || { echo "orbix: dependency install failed (see above); if pyproject.toml changed, run ./scripts/lock" >&2; exit 1; }
    .venv/bin/python -c "import litestar, beanie" || { echo "orbix: dependency install failed" >&2; exit 1; }
    echo "$want" > "$stamp"
}

# The pinned uv in .tools/ (a venv of its own: `uv sync` keeps .venv exactly as locked).
_orbix_uv_tool() {
    local python="$1"
    if [ -x .tools/bin/uv ] && [ "$(cat .tools/.orbix-uv 2>/dev/null)" = "$(cat scripts/uv-requirements.txt)" ]; then
        return 0
    fi
    rm -rf .tools
    if ! "$python" -m venv .tools >/dev/null; then
        rm -rf .tools  # a half-made venv would fail every later run
        echo "orbix: could not create a virtualenv (on Debian/Ubuntu: apt-get install python3-venv)" >&2
        exit 1
    fi
    if ! .tools/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
        --only-binary=:all: --no-deps -r scripts/uv-requirements.txt; then
        rm -rf .tools
        echo "orbix: could not install uv (see above)" >&2
        exit 1
    fi
    cp scripts/uv-requirements.txt .tools/.orbix-uv
}
