#!/usr/bin/env bash
# Builds the WF-VAE training / held-out video set used for the shipped model (models/wfvae-default).
#
# Sources (all offline, Debian packages):
#   * python3-skimage            sample photographs (skimage/data/*.png|*.jpg: astronaut, coffee, chelsea, rocket, ...)
#   * plasma-workspace-wallpapers KDE wallpapers (/usr/share/wallpapers/*/contents/images/*, one image per wallpaper)
#   * ffmpeg lavfi sources        testsrc2, mandelbrot, life, cellauto, gradients
#
# Every still image is animated into short clips with a virtual camera, all through ffmpeg filters:
#   pan   : scale to a random short side, crop a moving window (x, y linear in the frame number n), resize to S×S
#   zoom  : zoompan with a linear zoom in or out around a drifting centre (prescaled 4× to avoid integer jitter)
#   rotate: rotate by a linear angle in n around the centre, crop the inner square, resize to S×S
# Synthetic sources get their own random parameters (size, speed, seed, rule).
#
# Held-out split: whole source images are held out (every 5th image in sorted order of each source family) plus
# separately seeded synthetic clips; no frame of a held-out image is in train/.
# Clips: 33 frames, 8 fps, H.264 yuv444p CRF 12 (near-lossless), train at 96×96 (the trainer random-crops 64×64),
# held-out at 64×64 (the evaluation size).
#
# HELD_SIZE=256 HELDOUT_ONLY=1 scripts/build-dataset.sh out/wfvae-heldout-256 makes the same held-out clips at 256×256:
# camera windows and synthetic canvases grow by HELD_SIZE/96 so frames are downscaled, never upscaled (at 64 nothing
# changes).
#
# Usage: scripts/build-dataset.sh [OUT_DIR=out/wfvae-dataset]   (deterministic: fixed seeds, except that ffmpeg 5.1's `gradients` source differs from run to run even with seed=, so its 8 train and 2 held-out clips are not bit-reproducible; took 26 min wall, 10 min CPU, on 2 busy shared cores, mostly scaling the 2560×1600 wallpapers)
set -euo pipefail

OUT=${1:-out/wfvae-dataset}
FRAMES=33
FPS=8
TRAIN_SIZE=96
HELD_SIZE=${HELD_SIZE:-64}
HELDOUT_ONLY=${HELDOUT_ONLY:-0}
CLIPS_PER_IMAGE=${CLIPS_PER_IMAGE:-6}

need_pkg() { dpkg -s "$1" >/dev/null 2>&1 || { echo "installing $1"; apt-get install -y "$1" >/dev/null; }; }
command -v ffmpeg >/dev/null || need_pkg ffmpeg
need_pkg python3-skimage
need_pkg plasma-workspace-wallpapers

SKDATA=$(python3 -c 'import os, skimage.data as d; print(os.path.dirname(d.__file__))' 2>/dev/null || echo /usr/lib/python3/dist-packages/skimage/data)
mkdir -p "$OUT/train" "$OUT/heldout" "$OUT/tmp"

# Deterministic pseudo-random numbers: rnd SEED LO HI -> integer in [LO, HI]
rnd() { awk -v s="$1" -v lo="$2" -v hi="$3" 'BEGIN { srand(s); print int(lo + rand() * (hi - lo + 1)) }'; }
rndf() { awk -v s="$1" -v lo="$2" -v hi="$3" 'BEGIN { srand(s); printf "%.4f", lo + rand() * (hi - lo) }'; }
# grow SIZE N -> N scaled by max(1, SIZE/96), so clips larger than the training size are still downscaled from the source
grow() { awk -v z="$1" -v v="$2" 'BEGIN { f = z / 96; if (f < 1) f = 1; print int(v * f) }'; }

ENC=(-an -c:v libx264 -preset veryfast -crf 12 -pix_fmt yuv444p -r "$FPS" -frames:v "$FRAMES" -loglevel error -y)

# ---------------------------------------------------------------- source list
list_images() {
  # skimage sample data (colour and grey photographs; skip tiny / binary-mask files)
  find "$SKDATA" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' \) -size +20k | sort | sed 's/^/skimage\t/'
  # one image per wallpaper folder: the largest file in contents/images
  for d in $(find /usr/share/wallpapers -mindepth 1 -maxdepth 1 -type d | sort); do
    f=$(ls -S "$d"/contents/images/*.{jpg,png} 2>/dev/null | head -1 || true)
    [ -n "$f" ] && printf 'wallpaper\t%s\n' "$f"
  done
}

animate() { # animate SRC OUT SIZE SEED
  local src=$1 out=$2 size=$3 seed=$4 kind vf
  kind=$(( seed % 3 ))
  case $kind in
    0) # pan: moving crop window on a downscaled image
      local short=$(grow $size $(rnd $seed 160 480)) win=$(grow $size $(rnd $((seed+1)) 96 150))
      local vx=$(rndf $((seed+2)) -3 3) vy=$(rndf $((seed+3)) -2 2)
      local fx=$(rndf $((seed+4)) 0.15 0.85) fy=$(rndf $((seed+5)) 0.15 0.85)
      vf="scale='if(lt(iw,ih),$short,-2)':'if(lt(iw,ih),-2,$short)',crop=$win:$win:'clip((iw-$win)*$fx+$vx*n,0,iw-$win)':'clip((ih-$win)*$fy+$vy*n,0,ih-$win)',scale=$size:$size:flags=area"
      ffmpeg -nostdin -loop 1 -framerate "$FPS" -i "$src" -vf "$vf" "${ENC[@]}" "$out" ;;
    1) # zoom in or out around a drifting centre
      local short=$(rnd $seed 720 1600) z0=$(rndf $((seed+1)) 1.0 2.2) dz=$(rndf $((seed+2)) -0.02 0.03)
      local fx=$(rndf $((seed+3)) 0.3 0.7) fy=$(rndf $((seed+4)) 0.3 0.7) dx=$(rndf $((seed+5)) -4 4)
      vf="scale='if(lt(iw,ih),$short,-2)':'if(lt(iw,ih),-2,$short)',zoompan=z='max(1,$z0+$dz*on)':x='clip(iw*$fx-iw/zoom/2+$dx*on,0,iw-iw/zoom)':y='clip(ih*$fy-ih/zoom/2,0,ih-ih/zoom)':d=$FRAMES:s=${size}x${size}:fps=$FPS"
      ffmpeg -nostdin -i "$src" -vf "$vf" "${ENC[@]}" "$out" ;;
    2) # rotation (plus slight drift) around the centre
      local short=$(grow $size $(rnd $seed 220 420)) a=$(rndf $((seed+1)) -0.05 0.05) win=$(grow $size $(rnd $((seed+2)) 100 140))
      vf="scale='if(lt(iw,ih),$short,-2)':'if(lt(iw,ih),-2,$short)',rotate=a='$a*n':c=black,crop=$win:$win,scale=$size:$size:flags=area"
      ffmpeg -nostdin -loop 1 -framerate "$FPS" -i "$src" -vf "$vf" "${ENC[@]}" "$out" ;;
  esac
}

echo "animating still images from $SKDATA and /usr/share/wallpapers ..."
idx=0
n_train=0; n_held=0
declare -A fam_count
while IFS=$'\t' read -r fam src; do
  c=${fam_count[$fam]:-0}; fam_count[$fam]=$((c+1))
  base=$(basename "$(dirname "$(dirname "$(dirname "$src")")")")
  [ "$fam" = skimage ] && base=$(basename "${src%.*}")
  # convert to a plain RGB png once (grey and palette images, odd jpeg variants)
  still="$OUT/tmp/${fam}_${base}.png"
  if (( c % 5 == 4 )); then
    split=heldout; size=$HELD_SIZE; n=3
  else
    split=train; size=$TRAIN_SIZE; n=$CLIPS_PER_IMAGE
    if [ "$HELDOUT_ONLY" = 1 ]; then n_train=$((n_train+1)); idx=$((idx+1)); continue; fi
  fi
  ffmpeg -nostdin -loglevel error -y -i "$src" -frames:v 1 -pix_fmt rgb24 "$still"
  for ((k = 0; k < n; k++)); do
    seed=$(( (idx * 131 + k * 17 + 7) ))
    animate "$still" "$OUT/$split/${fam}_${base}_$k.mp4" "$size" "$seed" || echo "warn: $fam/$base clip $k failed" >&2
  done
  [ $split = train ] && n_train=$((n_train+1)) || n_held=$((n_held+1))
  idx=$((idx+1))
done < <(list_images)
echo "images: $n_train train, $n_held held out"

echo "synthetic sources ..."
synth() { # synth NAME LAVFI SIZE SPLIT
  ffmpeg -nostdin -f lavfi -i "$2" -vf "scale=$3:$3:flags=area" "${ENC[@]}" "$OUT/$4/synth_$1.mp4"
}
for ((k = 0; k < 8; k++)); do
  [ "$HELDOUT_ONLY" = 1 ] && break
  s=$((1000 + k)); big=$(rnd $s 128 384)
  synth "testsrc2_$k"   "testsrc2=s=${big}x${big}:r=$FPS" $TRAIN_SIZE train
  synth "mandel_$k"     "mandelbrot=s=${big}x${big}:r=$FPS:start_scale=$(rndf $s 0.3 3):end_scale=$(rndf $((s+1)) 0.01 0.3):start_x=$(rndf $((s+2)) -1.2 -0.5):start_y=$(rndf $((s+3)) -0.3 0.3)" $TRAIN_SIZE train
  synth "life_$k"       "life=s=${big}x${big}:r=$FPS:seed=$s:ratio=$(rndf $((s+4)) 0.1 0.6):mold=$(rnd $((s+5)) 0 40):life_color=#$(printf '%06x' $(rnd $((s+6)) 0 16777215)):death_color=#$(printf '%06x' $(rnd $((s+7)) 0 16777215)):mold_color=#$(printf '%06x' $(rnd $((s+8)) 0 16777215))" $TRAIN_SIZE train
  synth "cellauto_$k"   "cellauto=s=${big}x$((big/2)):r=$FPS:seed=$s:rule=$(rnd $((s+9)) 18 150):random_fill_ratio=$(rndf $((s+10)) 0.2 0.8)" $TRAIN_SIZE train
  synth "gradients_$k"  "gradients=s=${big}x${big}:r=$FPS:seed=$s:speed=$(rndf $((s+11)) 0.02 0.2):n=$(rnd $((s+12)) 2 6)" $TRAIN_SIZE train
done
for ((k = 0; k < 2; k++)); do
  s=$((5000 + k)); big=$(grow $HELD_SIZE $(rnd $s 128 256))
  synth "mandel_h$k"    "mandelbrot=s=${big}x${big}:r=$FPS:start_scale=$(rndf $s 0.3 3):end_scale=$(rndf $((s+1)) 0.01 0.3):start_x=$(rndf $((s+2)) -1.2 -0.5):start_y=$(rndf $((s+3)) -0.3 0.3)" $HELD_SIZE heldout
  synth "gradients_h$k" "gradients=s=${big}x${big}:r=$FPS:seed=$s:speed=$(rndf $((s+11)) 0.02 0.2)" $HELD_SIZE heldout
  synth "life_h$k"      "life=s=${big}x${big}:r=$FPS:seed=$s:ratio=0.3:mold=20:life_color=#40c0ff:death_color=#101020:mold_color=#ff8040" $HELD_SIZE heldout
done

rm -rf "$OUT/tmp"
echo "done: $(ls "$OUT/train" | wc -l) train clips, $(ls "$OUT/heldout" | wc -l) held-out clips in $OUT"
