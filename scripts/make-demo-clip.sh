#!/usr/bin/env bash
# Generates samples/demo.mp4, the clip the README's first command reconstructs: the scikit-image "chelsea" photograph
# (a held-out image: no frame of it is in the training set of models/wfvae-default) animated with a slow zoom-in and
# pan by ffmpeg's zoompan filter. 33 frames (1 + 4·8), 128×128, 8 fps, H.264 yuv420p. Needs ffmpeg + python3-skimage.
set -euo pipefail
OUT=${1:-samples/demo.mp4}
SRC=/usr/lib/python3/dist-packages/skimage/data/chelsea.png
[ -f "$SRC" ] || apt-get install -y python3-skimage >/dev/null
mkdir -p "$(dirname "$OUT")"
ffmpeg -nostdin -loglevel error -y -i "$SRC" \
  -vf "scale=-2:1200,zoompan=z='1.15+0.012*on':x='iw*0.42-iw/zoom/2+3*on':y='ih*0.45-ih/zoom/2':d=33:s=128x128:fps=8" \
  -an -c:v libx264 -preset slow -crf 16 -pix_fmt yuv420p -frames:v 33 -movflags +faststart "$OUT"
echo "wrote $OUT ($(stat -c %s "$OUT") bytes)"
