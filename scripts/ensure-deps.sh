#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for building, testing and running wfvae (idempotent).
# --tests also installs what the tests need beyond that: PostgreSQL (the elastic-mode tests start a throwaway cluster).
set -euo pipefail
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg)
# A font for the text of `reconstruct --report` and the notebooks' plots (SkiaSharp reads /usr/share/fonts).
compgen -G "/usr/share/fonts/truetype/*/*.ttf" >/dev/null || need+=(fonts-dejavu-core)
if [ "${1:-}" = "--tests" ]; then
  # Debian keeps initdb/pg_ctl in /usr/lib/postgresql/<version>/bin, off PATH.
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "wfvae: please install: ${need[*]} (e.g. sudo apt-get install -y ${need[*]})" >&2; exit 1; fi
  echo "wfvae: installing ${need[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v dotnet >/dev/null 2>&1 || { echo "wfvae: the .NET 10 SDK (dotnet) is required: https://dotnet.microsoft.com/download" >&2; exit 1; }
