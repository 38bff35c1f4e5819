#!/usr/bin/env bash
# Builds the solution and runs every test; ends with "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
bash scripts/ensure-deps.sh --tests || exit 1
log="$(mktemp)"
dotnet test WfVae.MLNet.sln -c Release --logger "console;verbosity=normal" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
passed=$(grep -Eo 'Passed:[[:space:]]+[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed:[[:space:]]+[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
# Repeat each failure's name and first message lines at the end, where a truncated CI log still shows them.
if [ "$failed" -gt 0 ]; then
  echo "== failed tests:"
  awk '/^[[:space:]]+Failed [A-Za-z]/ {n=12} n>0 {print; n--}' "$log" | cut -c1-400
fi
rm -f "$log"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; echo "dotnet test exited with $rc (build or runner failure)"; fi
echo "$passed passed, $failed failed"
exit "$rc"
