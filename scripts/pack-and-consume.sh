#!/usr/bin/env bash
# Packs every package to out/feed, then proves them from outside the repository, as a new user would:
#  1. a console app in a temp folder (its own nuget.config: the local feed + the machine's default source, and a
#     fresh NuGet cache for this project's packages) adds WfVae.MLNet and WfVae.Models.Default, checks that the
#     build names the missing backend (WFVAE001) and the CUDA switch (WFVAE002), adds libtorch-cpu-linux-x64, and
#     encodes a 9-frame 32x32 clip through the ML.NET stage WfVaeEncode with DefaultModel.Directory;
#  2. installs the tool from the feed (dotnet tool install wfvae) into a temp tool path and runs `wfvae info`.
# Prints "pack-and-consume: ok" and exits 0 when all of it works; "pack-and-consume: FAILED (...)" and 1 otherwise.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/ensure-deps.sh
fail() { echo "pack-and-consume: FAILED ($*)"; exit 1; }
start=$SECONDS

feed="$root/out/feed"
if [ -z "${WFVAE_SKIP_PACK:-}" ]; then   # WFVAE_SKIP_PACK=1 reuses out/feed (while working on this script)
  rm -rf "$feed"
  echo "== pack to $feed"
  dotnet pack WfVae.MLNet.sln -c Release -o "$feed" -p:ContinuousIntegrationBuild=true -nologo -v q "-clp:ErrorsOnly;NoSummary" \
    || fail "dotnet pack"
fi
version="$(basename "$(ls "$feed"/WfVae.MLNet.*.nupkg | grep -v snupkg | head -1)" .nupkg)"; version="${version#WfVae.MLNet.}"
for p in WfVae.Files WfVae.Core WfVae.Video WfVae.Pipeline WfVae.Datasets WfVae.MLNet WfVae.Models.Default wfvae wfvae.linux-x64; do
  [ -f "$feed/$p.$version.nupkg" ] || fail "no $p.$version.nupkg in $feed"
done
ls -1 "$feed" | sed 's/^/   /'

work="$(mktemp -d /tmp/wfvae-consumer.XXXXXX)"
[ -n "${WFVAE_KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT   # WFVAE_KEEP_WORK=1 keeps it for a look
# A fresh cache: our packages must come from the feed, never from an earlier restore. Third-party packages the
# machine already has (libtorch is 600 MB) are read from its cache as a fallback folder, never written there.
machine_cache="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
export NUGET_PACKAGES="$work/nuget-packages"
mkdir -p "$NUGET_PACKAGES"
for p in wfvae.core wfvae.mlnet wfvae.models.default wfvae wfvae.linux-x64; do
  [ ! -d "$machine_cache/$p/$version" ] || fail "$machine_cache/$p/$version exists; the fallback cache would hide the feed's package"
done
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<!-- The local feed plus the machine's default package source (inherited, as in the repository's nuget.config). -->
<configuration>
  <packageSources>
    <add key="wfvae-local" value="$feed" />
  </packageSources>
  <fallbackPackageFolders>
    <add key="machine-cache" value="$machine_cache" />
  </fallbackPackageFolders>
</configuration>
XML

echo "== consumer app in $work/app"
cd "$work"
dotnet new console -o app -n Consumer --framework net10.0 --no-restore >/dev/null || fail "dotnet new console"
cd app
dotnet add package WfVae.MLNet --version "$version" >/dev/null || fail "dotnet add package WfVae.MLNet"
dotnet add package WfVae.Models.Default --version "$version" >/dev/null || fail "dotnet add package WfVae.Models.Default"
[ -d "$NUGET_PACKAGES/wfvae.mlnet/$version" ] && [ -d "$NUGET_PACKAGES/wfvae.core/$version" ] \
  || fail "WfVae packages were not restored from the feed into the fresh cache"

cat > Program.cs <<'CS'
using Microsoft.ML;
using Microsoft.ML.Data;
using WfVae;

string clip = args[0];
string modelDir = DefaultModel.Directory
    ?? throw new InvalidOperationException($"DefaultModel.Directory is null; looked in {DefaultModel.SearchDescription}");
var ml = new MLContext(seed: 1);
var data = ml.Data.LoadFromEnumerable(new[] { new Clip { Video = clip } });
var pipeline = ml.Transforms.WfVaeEncode("Latent", "Video", modelDir, width: 32, height: 32, maxFrames: 9);
var transformer = pipeline.Fit(data);
var output = transformer.Transform(data);
var type = (VectorDataViewType)output.Schema["Latent"].Type;
float[] latent = output.GetColumn<float[]>("Latent").Single();
Console.WriteLine($"model: {modelDir}");
Console.WriteLine($"latent shape: ({string.Join(", ", type.Dimensions)}), {latent.Length} values, mean {latent.Average():F4}, finite {latent.All(float.IsFinite)}");
(transformer as IDisposable)?.Dispose();
return latent.Length == type.Size && latent.All(float.IsFinite) ? 0 : 1;

class Clip { public string Video { get; set; } = ""; }
CS

echo "== build without a native backend: must fail with WFVAE001 naming libtorch-cpu-linux-x64"
if dotnet build -nologo -v q > build.log 2>&1; then cat build.log; fail "build without a backend succeeded"; fi
grep -q "WFVAE001.*libtorch-cpu-linux-x64" build.log || { cat build.log; fail "no WFVAE001 message"; }
grep -o "error WFVAE001: [^[]*" build.log | head -1 | sed 's/^/   /'

dotnet add package libtorch-cpu-linux-x64 --version 2.10.0 >/dev/null || fail "dotnet add package libtorch-cpu-linux-x64"
echo "== the CUDA switch (-p:WfVaeTorchBackend=cuda) without TorchSharp-cuda-linux: must fail with WFVAE002"
if dotnet build -nologo -v q -p:WfVaeTorchBackend=cuda > build.log 2>&1; then cat build.log; fail "cuda build without TorchSharp-cuda-linux succeeded"; fi
grep -q "WFVAE002.*TorchSharp-cuda-linux" build.log || { cat build.log; fail "no WFVAE002 message"; }
grep -o "error WFVAE002: [^[]*" build.log | head -1 | sed 's/^/   /'

echo "== build and run with libtorch-cpu-linux-x64"
dotnet build -c Release -nologo > build.log 2>&1 || { cat build.log; fail "consumer build"; }
ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=32x32:rate=8 -frames:v 9 -pix_fmt yuv420p "$work/clip.mp4" || fail "ffmpeg testsrc2"
out="$(OMP_WAIT_POLICY=PASSIVE dotnet bin/Release/net10.0/Consumer.dll "$work/clip.mp4" 2>&1)" || { echo "$out" | tail -40; fail "consumer program exited non-zero"; }
echo "$out" | sed 's/^/   /'

echo "== dotnet tool install wfvae from the feed"
cd "$work"
dotnet tool install wfvae --version "$version" --tool-path "$work/tools" --configfile "$work/nuget.config" >/dev/null \
  || fail "dotnet tool install wfvae"
out="$(OMP_WAIT_POLICY=PASSIVE "$work/tools/wfvae" info 2>&1)" || { echo "$out" | tail -40; fail "wfvae info exited non-zero"; }
echo "$out" | sed 's/^/   /'

echo "pack-and-consume: ok ($((SECONDS - start)) s)"
