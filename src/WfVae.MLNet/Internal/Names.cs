using Microsoft.ML;
using Microsoft.ML.Data;

namespace WfVae.MLNet;

/// <summary>Column-name rules and schema errors worded like ML.NET's own.</summary>
internal static class Names
{
    /// <summary>Prefix of the temporary columns inside saved pipelines; user columns may not use it.</summary>
    public const string Reserved = "WfVae::";

    public static void CheckColumnName(string? name, string option)
    {
        if (string.IsNullOrWhiteSpace(name))
            throw new ArgumentException($"{option} must be a non-empty column name.", option);
        if (name.StartsWith(Reserved, StringComparison.Ordinal))
            throw new ArgumentException($"Column name '{name}' starts with '{Reserved}', which is reserved for the temporary columns of saved WF-VAE stages.", option);
    }

    /// <summary>Checks the row-error policy and, when it adds one, the error column's name against the stage's other outputs.</summary>
    public static void CheckRowErrors(WfVaeRowErrorPolicy policy, string errorColumn, IEnumerable<string> outputs, string options)
    {
        if (!Enum.IsDefined(policy))
            throw new ArgumentOutOfRangeException("RowErrors", policy, $"{options}.RowErrors must be Fail or MissingValue.");
        if (policy == WfVaeRowErrorPolicy.Fail) return;
        CheckColumnName(errorColumn, "ErrorColumnName");
        if (outputs.Contains(errorColumn, StringComparer.Ordinal))
            throw new ArgumentException($"{options}.ErrorColumnName '{errorColumn}' is also the name of an output column; choose another name.", "ErrorColumnName");
    }

    /// <summary>ML.NET's "Could not find input column 'X'".</summary>
    public static ArgumentOutOfRangeException MissingColumn(string name, string paramName = "inputSchema") =>
        new(paramName, $"Could not find input column '{name}'");

    /// <summary>ML.NET's "Schema mismatch for input column 'X': expected …, got …".</summary>
    public static ArgumentOutOfRangeException Mismatch(string name, string expected, string got, string? hint = null, string paramName = "inputSchema") =>
        new(paramName, $"Schema mismatch for input column '{name}': expected {expected}, got {got}" + (hint is null ? "" : $" ({hint})"));

    public static DataViewSchema.Column FindInput(DataViewSchema schema, string name) =>
        schema.GetColumnOrNull(name) is { } c ? c : throw MissingColumn(name);

    /// <summary>ML.NET's text for a type, e.g. <c>Vector&lt;Single, 3, 17, 64, 64&gt;</c>.</summary>
    public static string Describe(DataViewType type) => type.ToString() ?? type.GetType().Name;

    public static string DescribeShape(SchemaShape.Column c) => c.Kind switch
    {
        SchemaShape.Column.VectorKind.Scalar => Describe(c.ItemType),
        SchemaShape.Column.VectorKind.Vector => $"Vector<{c.ItemType}, n>",
        _ => $"Vector<{c.ItemType}>",
    };
}
