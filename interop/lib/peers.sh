# Shared by .ci/run, the interop suites and bench/compare: the Python and npm peers, installed
# where a stock Debian 12 / Ubuntu 24.04 allows it. A system-wide `pip install` is refused there
# (PEP 668, "externally-managed-environment"), so Python peers live in a virtualenv under
# target/; npm packages are installed per folder with `npm ci` from the committed lock files.
# Source it; it defines functions only.

# python_venv DIR PACKAGE==VERSION...: makes sure DIR is a virtualenv holding exactly these
# versions (installs what is missing or different) and prints DIR/bin/python. Returns non-zero,
# with the reason on stderr, when the venv cannot be made (Debian without python3-venv).
python_venv() {
  local dir=$1
  shift
  local py="$dir/bin/python"
  if [ ! -x "$py" ]; then
    if ! python3 -m venv "$dir" >&2; then
      echo "python3 -m venv $dir failed: on Debian/Ubuntu install python3-venv (apt-get install python3-venv)" >&2
      return 1
    fi
  fi
  if ! "$py" - "$@" <<'EOF' 2>/dev/null; then
import importlib.metadata as m, sys
want = dict(a.split("==", 1) for a in sys.argv[1:])
sys.exit(any(m.version(name) != version for name, version in want.items()))
EOF
    "$py" -m pip install --quiet --disable-pip-version-check "$@" >&2 || {
      echo "pip install $* into $dir failed" >&2
      return 1
    }
  fi
  echo "$py"
}

# npm_folder DIR: installs DIR's npm packages from its lock file unless DIR/node_modules is
# already up to date with it (npm writes node_modules/.package-lock.json on every install).
npm_folder() {
  local dir=$1
  if [ -f "$dir/node_modules/.package-lock.json" ] &&
    [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    return 0
  fi
  (cd "$dir" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >&2
}

# The interop suites' virtualenv (tinytuya), shared by every suite and by .ci/run.
interop_venv_dir() {
  echo "${TUYACTL_INTEROP_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/interop-venv}"
}
