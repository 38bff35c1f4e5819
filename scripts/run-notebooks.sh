#!/usr/bin/env bash
# Executes every notebooks/*.ipynb cell by cell in a .NET Interactive C# kernel (tools/NotebookRunner), each notebook
# in its own process, against the packed packages in out/feed (packed here when missing, reused when
# scripts/pack-and-consume.sh made it) and a fresh NuGet cache for this project's packages, so the notebooks really
# consume the feed. Third-party packages are read from the machine's cache as a fallback folder, never written there.
# Writes out/notebooks/NAME.ipynb (with outputs) and out/notebooks/NAME/cell-NN-K.png (every image shown).
# Prints a line per notebook and "notebooks: N passed, N failed"; exits 0 only when every notebook passed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mapfile -t notebooks < <(ls notebooks/*.ipynb)
fail_all() { echo "run-notebooks: FAILED ($*)"; echo "notebooks: 0 passed, ${#notebooks[@]} failed"; exit 1; }
bash scripts/ensure-deps.sh >/dev/null || fail_all "scripts/ensure-deps.sh"
start=$SECONDS

feed="$root/out/feed"
if ! ls "$feed"/WfVae.Interactive.*.nupkg >/dev/null 2>&1; then
  echo "== pack to $feed"
  rm -rf "$feed"
  dotnet pack WfVae.MLNet.sln -c Release -o "$feed" -p:ContinuousIntegrationBuild=true -nologo -v q "-clp:ErrorsOnly;NoSummary" || fail_all "dotnet pack"
fi
version="$(basename "$(ls "$feed"/WfVae.MLNet.*.nupkg | grep -v snupkg | head -1)" .nupkg)"; version="${version#WfVae.MLNet.}"
grep -l "0\.1\.0" notebooks/*.ipynb >/dev/null && [ "$version" = "0.1.0" ] || fail_all "the notebooks ask for version 0.1.0 of the packages; the feed has $version"

echo "== build tools/NotebookRunner"
dotnet build tools/NotebookRunner -c Release -nologo -v q "-clp:ErrorsOnly;NoSummary" || fail_all "building tools/NotebookRunner"
runner="$root/tools/NotebookRunner/bin/Release/net10.0/NotebookRunner.dll"

work="$(mktemp -d /tmp/wfvae-notebooks.XXXXXX)"
trap 'rm -rf "$work"' EXIT
machine_cache="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
for p in wfvae.core wfvae.mlnet wfvae.pipeline wfvae.interactive wfvae.models.default; do
  [ ! -d "$machine_cache/$p/$version" ] || fail_all "$machine_cache/$p/$version exists; the fallback cache would hide the feed's package"
done
export NUGET_PACKAGES="$work/nuget-packages"
# The kernel restores `#r "nuget:"` through a generated project, and MSBuild reads environment variables as properties:
# the feed is an extra source (what a user's `dotnet nuget add source` does, without writing the user's NuGet.Config).
export RestoreAdditionalProjectSources="$feed"
export RestoreFallbackFolders="$machine_cache"
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$NUGET_PACKAGES" out/notebooks

passed=0; failed=0
for nb in "${notebooks[@]}"; do
  echo "== $nb"
  if dotnet "$runner" "$nb" --out out/notebooks --cell-timeout 600; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
[ -d "$NUGET_PACKAGES/wfvae.core/$version" ] || { echo "run-notebooks: the WfVae packages were not restored from the feed into the fresh cache"; failed=${#notebooks[@]}; passed=0; }
echo "run-notebooks: $((SECONDS - start)) s; executed notebooks and their images under out/notebooks/"
echo "notebooks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
