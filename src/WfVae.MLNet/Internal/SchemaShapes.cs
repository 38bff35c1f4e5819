using Microsoft.ML;
using Microsoft.ML.Data;

namespace WfVae.MLNet;

/// <summary>
/// Builds <see cref="SchemaShape.Column"/> values, whose constructor ML.NET keeps internal, by asking a public estimator
/// (CustomMapping with an output schema definition) for the shape of a column of the wanted type.
/// </summary>
internal static class SchemaShapes
{
    private static readonly MLContext Context = new(seed: 0);

    /// <summary>A Single vector column, known-size or variable-size.</summary>
    public static SchemaShape.Column SingleVector(string name, bool knownSize)
    {
        var def = SchemaDefinition.Create(typeof(VectorRow));
        def[0].ColumnName = name;
        def[0].ColumnType = knownSize ? new VectorDataViewType(NumberDataViewType.Single, 1) : new VectorDataViewType(NumberDataViewType.Single);
        var est = Context.Transforms.CustomMapping<NoRow, VectorRow>(static (_, _) => { }, contractName: null, outputSchemaDefinition: def);
        return est.GetOutputSchema(new SchemaShape([])).Single(c => c.Name == name);
    }

    /// <summary>A text (String) column.</summary>
    public static SchemaShape.Column Text(string name)
    {
        var def = SchemaDefinition.Create(typeof(TextRow));
        def[0].ColumnName = name;
        var est = Context.Transforms.CustomMapping<NoRow, TextRow>(static (_, _) => { }, contractName: null, outputSchemaDefinition: def);
        return est.GetOutputSchema(new SchemaShape([])).Single(c => c.Name == name);
    }

    /// <summary>The error column of <paramref name="policy"/>, if it adds one.</summary>
    public static IEnumerable<SchemaShape.Column> ErrorColumn(WfVaeRowErrorPolicy policy, string name) =>
        policy == WfVaeRowErrorPolicy.MissingValue ? [Text(name)] : [];

    /// <summary>The input shape with <paramref name="added"/> appended (replacing columns of the same name).</summary>
    public static SchemaShape With(SchemaShape input, IEnumerable<SchemaShape.Column> added)
    {
        var result = input.ToDictionary(c => c.Name);
        foreach (var c in added) result[c.Name] = c;
        return new SchemaShape(result.Values);
    }

    public static SchemaShape.Column Find(SchemaShape input, string name) =>
        input.Any(c => c.Name == name) ? input.First(c => c.Name == name) : throw Names.MissingColumn(name);

    private sealed class NoRow
    {
    }

    private sealed class VectorRow
    {
        public float[] Value = [];
    }

    private sealed class TextRow
    {
        public string Value = "";
    }
}
