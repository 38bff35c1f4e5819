#!/usr/bin/env bash
# Prints one line that changes whenever an input of the wfvae build changes: the name, size and modification time of
# every file under src/ and build/, the build files at the root and the shipped model (git-tracked and untracked
# non-ignored files; without git, every file outside bin/ and obj/), and the commit (the version names it). The launcher compares it with the stamp of the
# last successful build to skip the ~13 s `dotnet build` check when nothing changed.
set -euo pipefail
root="${1:?usage: build-inputs-stamp.sh REPO_ROOT}"
cd "$root"
inputs=(src build models/wfvae-default Directory.Build.props Directory.Build.targets Directory.Packages.props nuget.config global.json)
list_inputs() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard -- "${inputs[@]}"
  else
    find "${inputs[@]}" -type f -not -path '*/bin/*' -not -path '*/obj/*' -print0 2>/dev/null || true
  fi
}
# A listed file that is gone (deleted, not yet staged) just drops out of the list, which changes the stamp too.
{ git rev-parse HEAD 2>/dev/null || true; list_inputs | LC_ALL=C sort -z | xargs -0 -r stat -c '%n %s %Y' 2>/dev/null || true; } | sha1sum | cut -d' ' -f1
