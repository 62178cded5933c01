#!/bin/bash
# tests/run.sh: the project's test command: packages (as root), build, unit + integration tests.
# Extra environment reaches the suites (e.g. IMGFCGI_LOAD_REQUESTS, IMGFCGI_KEEP_TMP).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

deps_ensure
make -j"$(nproc 2>/dev/null || echo 2)"

log=$(mktemp /tmp/imgfcgi-check.XXXXXX)
trap 'rm -f "$log"' EXIT
set +e
# -k: the integration suite runs even when a unit test failed.
make -k check 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

echo
echo "==== summary (make check exit status $rc)"
summary=$(grep -E '^[A-Za-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" || true)
if [ -n "$summary" ]; then
    echo "$summary"
else
    echo "no summary line: the build or a suite failed before its end"
fi
exit "$rc"
