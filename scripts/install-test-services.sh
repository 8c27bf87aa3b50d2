#!/bin/sh
# Install what the tests run for real when it is missing: Java for Spark in local mode,
# a PostgreSQL server (started by the tests themselves on 127.0.0.1), and Chromium for
# the report test (driven by Playwright; it never downloads a browser of its own).
set -eu

missing=""
command -v java >/dev/null 2>&1 || missing="$missing openjdk-17-jre-headless"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"

if [ -z "$missing" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "The tests need:$missing (Debian packages). Install them as root, then run make test again." >&2
    exit 1
fi
echo "installing:$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
