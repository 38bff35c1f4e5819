#!/usr/bin/env bash
# Held-out evaluation of a WF-VAE model folder: runs `wfvae reconstruct` on every clip of a folder at SIZE×SIZE and
# prints per-clip and mean PSNR / SSIM (definitions of the official eval scripts, spec §7.4: PSNR per frame on [0,1]
# averaged over frames; SSIM 11×11 Gaussian σ=1.5 'valid', per channel). Metrics compare the decoded input frames with
# the reconstruction before it is written to mp4.
#
# Usage: scripts/evaluate-heldout.sh [MODEL_DIR=models/wfvae-default] [CLIPS_DIR=out/wfvae-dataset/heldout] [SIZE=64]
#        WFVAE="dotnet path/to/WfVae.Cli.dll" to choose the CLI (default: dotnet run the CLI project in Release).
set -euo pipefail
MODEL=${1:-models/wfvae-default}
CLIPS=${2:-out/wfvae-dataset/heldout}
SIZE=${3:-64}
OUT=${OUT:-out/eval-$(basename "$MODEL")-$SIZE}
if [ -z "${WFVAE:-}" ]; then
  dotnet build src/WfVae.Cli -c Release -v q -nologo >/dev/null
  WFVAE="dotnet src/WfVae.Cli/bin/Release/net10.0/WfVae.Cli.dll"
fi
mkdir -p "$OUT"
: > "$OUT/metrics.tsv"
for clip in "$CLIPS"/*.mp4; do
  name=$(basename "$clip" .mp4)
  line=$($WFVAE reconstruct "$clip" "$OUT/$name.mp4" --model "$MODEL" --size "$SIZE" --threads "${THREADS:-1}" | grep '^PSNR')
  psnr=$(echo "$line" | awk '{print $2}'); ssim=$(echo "$line" | awk '{print $5}')
  printf '%s\t%s\t%s\n' "$name" "$psnr" "$ssim" | tee -a "$OUT/metrics.tsv"
done
awk -F'\t' '{p+=$2; s+=$3; n++} END {printf "MEAN over %d clips: PSNR %.2f dB  SSIM %.4f\n", n, p/n, s/n}' "$OUT/metrics.tsv" | tee "$OUT/summary.txt"
