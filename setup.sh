#!/usr/bin/env bash
# Set up the project on a fresh machine: Chromium and CJK fonts from Debian (for JS-rendered
# storefronts and screenshots) where apt is usable, then a virtual environment in .venv.
#   bash setup.sh          # the tool
#   bash setup.sh --dev    # the tool and its test/lint tools
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing Chromium and CJK fonts with apt …"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
      || echo "warning: could not install chromium; storefront targets and screenshots will be unavailable" >&2
  else
    echo "note: no Chromium found; install Debian's 'chromium' and 'fonts-noto-cjk' for storefronts and screenshots" >&2
  fi
fi

# The printable evidence record (WeasyPrint) needs Pango; the tests read its PDFs with pdftotext.
PKGS="libpango-1.0-0 libpangoft2-1.0-0"
[ "${1:-}" = "--dev" ] && PKGS="$PKGS poppler-utils openssl"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && ! dpkg -s $PKGS >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PKGS >/dev/null) \
    || echo "warning: could not install $PKGS; PDF evidence records may be unavailable" >&2
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
else
  .venv/bin/python -m pip install -q -e .
fi
echo "ready: .venv/bin/monitor"
