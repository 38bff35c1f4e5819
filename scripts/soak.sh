#!/usr/bin/env bash
# Soak (issue 15): LOADS model loads, ROWS rows through WfVaeEncode and WfVaeDecode, PATH_ROWS video files through
# WfVaeEncode; prints live tensors and RSS after warm-up per phase and exits 1 on any growth in live tensors or >= 5% RSS.
# Usage: scripts/soak.sh [LOADS=600] [ROWS=1000] [PATH_ROWS=100] [MODEL_DIR=../shared/fixtures/wfvae-tiny]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
loads="${1:-600}" rows="${2:-1000}" path_rows="${3:-100}"
model="${4:-$repo/../shared/fixtures/wfvae-tiny}"
dir="$repo/out/soak"
mkdir -p "$dir"
cat > "$dir/Soak.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <IsPackable>false</IsPackable>
    <ServerGarbageCollection>false</ServerGarbageCollection>
  </PropertyGroup>
  <ItemGroup>
    <Compile Include="$repo/scripts/soak/Soak.cs" />
    <ProjectReference Include="$repo/src/WfVae.MLNet/WfVae.MLNet.csproj" />
  </ItemGroup>
  <Import Project="$repo/build/TorchNative.targets" />
</Project>
PROJ
dotnet build "$dir/Soak.csproj" -c Release -nologo -v q -clp:ErrorsOnly
dotnet "$dir/bin/Release/net10.0/Soak.dll" "$model" "$loads" "$rows" "$path_rows"
