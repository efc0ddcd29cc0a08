# Sourced by the scripts: make sure .venv exists and holds this checkout's dependencies.
# Usage: ensure_venv "" (runtime only) or ensure_venv "[dev]" (with the test tools).
ensure_venv() {
    local extras="$1"
    local python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        command -v "$python" >/dev/null 2>&1 \
            || { echo "orbix: $python not found: install Python 3.11 or newer (or set PYTHON=...)" >&2; exit 1; }
        "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || { echo "orbix: Python 3.11 or newer is required; $python is $("$python" --version 2>&1)" >&2; exit 1; }
        echo "orbix: creating .venv with $("$python" --version 2>&1)" >&2
        if ! "$python" -m venv .venv; then
            rm -rf .venv  # a half-made .venv would make every later run skip this step and fail
            echo "orbix: could not create .venv (on Debian/Ubuntu: apt-get install python3-venv)" >&2
            exit 1
        fi
    fi
    local want stamp=.venv/.orbix-installed
    want="$(.venv/bin/python -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest()[:16])')$extras"
    # A runtime-only request is satisfied by a dev install of the same pyproject.
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] || { [ -z "$extras" ] && grep -q "^${want}\[dev\]$" "$stamp" 2>/dev/null; }; then
        return 0
    fi
    echo "orbix: installing dependencies into .venv (first run takes a minute)" >&2
    _orbix_pip install --quiet --disable-pip-version-check --upgrade pip || true  # an older pip still works
    # Never stamp a failed install: the stamp means "done", and a stamped venv is never installed into again.
    _orbix_pip install --quiet --disable-pip-version-check -e ".$extras" \
        || { echo "orbix: dependency install failed (see above); fix it and run again" >&2; exit 1; }
    .venv/bin/python -c "import app, litestar, beanie" || { echo "orbix: dependency install failed" >&2; exit 1; }
    echo "$want" > "$stamp"
}

# pip in .venv with its own exit status, its output on stderr minus the "... is ignored" noise.
_orbix_pip() {
    local output status=0
    output="$(.venv/bin/python -m pip "$@" 2>&1)" || status=$?
    if [ -n "$output" ]; then
        grep -v "is ignored" <<<"$output" >&2 || true
    fi
    return "$status"
}
