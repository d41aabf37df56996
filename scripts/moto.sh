# Sourced by scripts/test: makes sure a Python with moto's S3 server and boto3 is available for the
# TechDocs tests and exports SCAFFOLDER_TEST_PYTHON for it. When the system Python lacks them, a
# virtual environment is made under target/test-venv (python3 and python3-venv installed with
# apt-get when missing) and `moto[server]` is installed there from PyPI.

ensure_moto() {
  if [ -n "${SCAFFOLDER_TEST_PYTHON:-}" ] && "$SCAFFOLDER_TEST_PYTHON" -c 'import moto.server, boto3' 2>/dev/null; then
    return 0
  fi
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import moto.server, boto3' 2>/dev/null; then
    export SCAFFOLDER_TEST_PYTHON="$(command -v python3)"
    return 0
  fi
  local venv="target/test-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import moto.server, boto3' 2>/dev/null; then
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
      echo "scripts/test: installing python3 and python3-venv (apt-get)" >&2
      as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv
    fi
    echo "scripts/test: installing moto[server] into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'moto[server]>=5,<6'
  fi
  export SCAFFOLDER_TEST_PYTHON="$PWD/$venv/bin/python"
}
