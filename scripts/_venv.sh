# Sourced by the scripts: make sure .venv exists and holds this checkout's dependencies.
# Usage: ensure_venv "" (runtime only) or ensure_venv "[dev]" (with the test tools).
ensure_venv() {
    local extras="$1"
    local python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        echo "orbix: creating .venv with $($python --version)" >&2
        "$python" -m venv .venv
    fi
    local want stamp=.venv/.orbix-installed
    want="$(sha256sum pyproject.toml | cut -c1-16)$extras"
    # A runtime-only request is satisfied by a dev install of the same pyproject.
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] || { [ -z "$extras" ] && grep -q "^${want}\[dev\]$" "$stamp" 2>/dev/null; }; then
        return 0
    fi
    echo "orbix: installing dependencies into .venv (first run takes a minute)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" >&2 || true
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras" 2>&1 | grep -v "is ignored" >&2 || true
    .venv/bin/python -c "import app, litestar, beanie" || { echo "orbix: dependency install failed" >&2; exit 1; }
    echo "$want" > "$stamp"
}
