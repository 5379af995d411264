#!/usr/bin/env bash
# The project's test command (README): brings a fresh machine to what the tests need, then
# runs the linters and the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet uv
fi

# Debian packages the tests start for real (openssh-server: the SFTP pull against a real sshd
# on loopback; chromium and the CJK fonts: the dashboards in a real browser; postgresql and
# redis-server: the scale-out profile's metadata database and cache; libreoffice-calc-nogui:
# workbooks re-saved by a real office suite; libreoffice-writer-nogui and poppler-utils: the
# bulletin's PDF made from its Word file, and its text read back): installed when missing and
# root, otherwise named in an error.
need_debs=(openssh-server chromium chromium-headless-shell fonts-noto-cjk postgresql redis-server
  libreoffice-calc-nogui libreoffice-writer-nogui poppler-utils)
missing=()
for pkg in "${need_debs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "tests/run.sh: missing Debian packages: ${missing[*]} (run as root or install them)" >&2
    exit 1
  fi
fi

export DO_NOT_TRACK=1 DBT_SEND_ANONYMOUS_USAGE_STATS=False GX_ANALYTICS_ENABLED=false \
  AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

uv sync --locked --quiet
uv run ruff check src tests bench dags
uv run ruff format --check src tests bench dags
uv run pytest "$@"
