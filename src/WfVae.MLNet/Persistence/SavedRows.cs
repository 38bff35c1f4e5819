using System.ComponentModel;
using Microsoft.ML.Data;

namespace WfVae.MLNet.Persistence;

// Row types of the CustomMapping stages that a saved WF-VAE stage is made of. ML.NET rebuilds these stages from the
// contract names in WfVaeContracts when a model is loaded; their column names and types must never change.

/// <summary>Names of the temporary columns inside saved WF-VAE stages (all dropped before the stage's outputs are visible).</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class SavedColumns
{
    /// <summary>Constant 0 that the plan and slice expressions hang off.</summary>
    public const string Anchor = Names.Reserved + "Anchor";
    /// <summary>The stage description (base64 JSON: weights reference and plan).</summary>
    public const string Plan = Names.Reserved + "Plan";
    /// <summary>Copy of the path input column.</summary>
    public const string Path = Names.Reserved + "Path";
    /// <summary>Copy of the video vector input column.</summary>
    public const string Video = Names.Reserved + "Video";
    /// <summary>Copy of the latent input column.</summary>
    public const string Latent = Names.Reserved + "Latent";
    /// <summary>All outputs of one row, concatenated.</summary>
    public const string Payload = Names.Reserved + "Payload";
    /// <summary>The error text of a row (stages that record row errors).</summary>
    public const string Error = Names.Reserved + "Error";
    /// <summary>Which part of the payload a slice stage cuts out.</summary>
    public const string Slice = Names.Reserved + "Slice";
    /// <summary>A variable-size part.</summary>
    public const string Var = Names.Reserved + "Var";
    /// <summary>Prefix of the fixed-size blocks B0 … B27 (2^k values each) that a known-size part is concatenated from.</summary>
    public const string BlockPrefix = Names.Reserved + "B";
    /// <summary>Number of block columns; parts hold at most 2^BlockCount − 1 values.</summary>
    public const int BlockCount = 28;
}

/// <summary>No input columns.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class NoColumns
{
}

/// <summary>The constant anchor column.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class AnchorRow
{
    /// <summary>Always 0.</summary>
    [ColumnName(SavedColumns.Anchor)] public float Anchor;
}

/// <summary>Input of the saved encode stage for a path column.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class PathRow
{
    /// <summary>The stage description.</summary>
    [ColumnName(SavedColumns.Plan)] public string Plan = "";
    /// <summary>The video file.</summary>
    [ColumnName(SavedColumns.Path)] public string Path = "";
}

/// <summary>Input of the saved encode stage for a video vector column.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class VideoRow
{
    /// <summary>The stage description.</summary>
    [ColumnName(SavedColumns.Plan)] public string Plan = "";
    /// <summary>Planar (3, T, H, W) video.</summary>
    [ColumnName(SavedColumns.Video), VectorType] public float[] Video = [];
}

/// <summary>Input of the saved decode stage.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class LatentRow
{
    /// <summary>The stage description.</summary>
    [ColumnName(SavedColumns.Plan)] public string Plan = "";
    /// <summary>Latent (z, t, h, w).</summary>
    [ColumnName(SavedColumns.Latent), VectorType] public float[] Latent = [];
}

/// <summary>Output of the saved encode and decode stages.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class PayloadRow
{
    /// <summary>All outputs of the row, concatenated in column order.</summary>
    [ColumnName(SavedColumns.Payload), VectorType] public float[] Payload = [];
}

/// <summary>Output of the saved encode and decode stages that record row errors: an empty payload and the error text for a bad row.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class PayloadErrorRow
{
    /// <summary>All outputs of the row, concatenated in column order; empty when the row failed.</summary>
    [ColumnName(SavedColumns.Payload), VectorType] public float[] Payload = [];
    /// <summary>Empty for a good row, the error otherwise.</summary>
    [ColumnName(SavedColumns.Error)] public string Error = "";
}

/// <summary>Input of a slice stage.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class SliceRow
{
    /// <summary>All outputs of the row.</summary>
    [ColumnName(SavedColumns.Payload), VectorType] public float[] Payload = [];
    /// <summary>Which part to cut out (see <c>SliceSpec</c>).</summary>
    [ColumnName(SavedColumns.Slice)] public string Slice = "";
}

/// <summary>
/// Output of a slice stage: a known-size part of n values is spread over the blocks of the set bits of n (largest first) and
/// concatenated back by a Concatenate stage, which gives the output column its known size after loading; a variable-size
/// part goes to <see cref="Var"/>. Blocks that n does not use are never read.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class BlocksRow
{
    /// <summary>A variable-size part.</summary>
    [ColumnName(SavedColumns.Var), VectorType] public float[]? Var;
    /// <summary>Block of 2^0 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "0"), VectorType(1)] public float[]? B0;
    /// <summary>Block of 2^1 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "1"), VectorType(2)] public float[]? B1;
    /// <summary>Block of 2^2 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "2"), VectorType(4)] public float[]? B2;
    /// <summary>Block of 2^3 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "3"), VectorType(8)] public float[]? B3;
    /// <summary>Block of 2^4 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "4"), VectorType(16)] public float[]? B4;
    /// <summary>Block of 2^5 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "5"), VectorType(32)] public float[]? B5;
    /// <summary>Block of 2^6 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "6"), VectorType(64)] public float[]? B6;
    /// <summary>Block of 2^7 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "7"), VectorType(128)] public float[]? B7;
    /// <summary>Block of 2^8 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "8"), VectorType(256)] public float[]? B8;
    /// <summary>Block of 2^9 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "9"), VectorType(512)] public float[]? B9;
    /// <summary>Block of 2^10 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "10"), VectorType(1024)] public float[]? B10;
    /// <summary>Block of 2^11 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "11"), VectorType(2048)] public float[]? B11;
    /// <summary>Block of 2^12 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "12"), VectorType(4096)] public float[]? B12;
    /// <summary>Block of 2^13 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "13"), VectorType(8192)] public float[]? B13;
    /// <summary>Block of 2^14 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "14"), VectorType(16384)] public float[]? B14;
    /// <summary>Block of 2^15 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "15"), VectorType(32768)] public float[]? B15;
    /// <summary>Block of 2^16 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "16"), VectorType(65536)] public float[]? B16;
    /// <summary>Block of 2^17 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "17"), VectorType(131072)] public float[]? B17;
    /// <summary>Block of 2^18 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "18"), VectorType(262144)] public float[]? B18;
    /// <summary>Block of 2^19 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "19"), VectorType(524288)] public float[]? B19;
    /// <summary>Block of 2^20 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "20"), VectorType(1048576)] public float[]? B20;
    /// <summary>Block of 2^21 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "21"), VectorType(2097152)] public float[]? B21;
    /// <summary>Block of 2^22 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "22"), VectorType(4194304)] public float[]? B22;
    /// <summary>Block of 2^23 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "23"), VectorType(8388608)] public float[]? B23;
    /// <summary>Block of 2^24 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "24"), VectorType(16777216)] public float[]? B24;
    /// <summary>Block of 2^25 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "25"), VectorType(33554432)] public float[]? B25;
    /// <summary>Block of 2^26 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "26"), VectorType(67108864)] public float[]? B26;
    /// <summary>Block of 2^27 values.</summary>
    [ColumnName(SavedColumns.BlockPrefix + "27"), VectorType(134217728)] public float[]? B27;

    /// <summary>Sets block <paramref name="k"/>.</summary>
    public void Set(int k, float[] values)
    {
        switch (k)
        {
            case 0: B0 = values; break;
            case 1: B1 = values; break;
            case 2: B2 = values; break;
            case 3: B3 = values; break;
            case 4: B4 = values; break;
            case 5: B5 = values; break;
            case 6: B6 = values; break;
            case 7: B7 = values; break;
            case 8: B8 = values; break;
            case 9: B9 = values; break;
            case 10: B10 = values; break;
            case 11: B11 = values; break;
            case 12: B12 = values; break;
            case 13: B13 = values; break;
            case 14: B14 = values; break;
            case 15: B15 = values; break;
            case 16: B16 = values; break;
            case 17: B17 = values; break;
            case 18: B18 = values; break;
            case 19: B19 = values; break;
            case 20: B20 = values; break;
            case 21: B21 = values; break;
            case 22: B22 = values; break;
            case 23: B23 = values; break;
            case 24: B24 = values; break;
            case 25: B25 = values; break;
            case 26: B26 = values; break;
            case 27: B27 = values; break;
            default: throw new ArgumentOutOfRangeException(nameof(k));
        }
    }
}
