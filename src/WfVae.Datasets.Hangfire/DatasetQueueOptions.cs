using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;

namespace WfVae.Datasets.Hangfire;

/// <summary>Where the queue lives (a PostgreSQL database, Hangfire.PostgreSql storage) and how its leases behave.</summary>
public sealed record DatasetQueueOptions
{
    /// <summary>Hangfire queue the dataset jobs go to; workers listen on it only.</summary>
    public const string QueueName = "wfvae_datasets";

    /// <summary>Npgsql connection string, e.g. <c>Host=db;Database=wfvae;Username=wfvae;Password=…</c>.</summary>
    public required string ConnectionString { get; init; }
    /// <summary>
    /// How long a fetched job stays invisible to other workers without its worker's keep-alive: a worker that dies
    /// has its shard picked up again after this. Live workers renew it (sliding), so long shards are not run twice.
    /// </summary>
    public TimeSpan InvisibilityTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>How often an idle worker looks for jobs, and for retries whose delay is over.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>The PostgreSQL schema of Hangfire's tables (created on first use).</summary>
    public string SchemaName { get; init; } = "hangfire";

    /// <summary>Throws naming the first option that cannot work.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
            throw new ArgumentException("the queue's connection string is empty; give a PostgreSQL connection string such as \"Host=127.0.0.1;Port=5432;Database=postgres;Username=postgres\".", nameof(ConnectionString));
        try { _ = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString); }
        catch (ArgumentException e) { throw new ArgumentException($"the queue's connection string is not a PostgreSQL connection string: {e.Message}", nameof(ConnectionString), e); }
        if (InvisibilityTimeout < TimeSpan.FromSeconds(1))
            throw new ArgumentOutOfRangeException(nameof(InvisibilityTimeout), InvisibilityTimeout, "the invisibility timeout must be at least 1 second.");
        if (PollInterval < TimeSpan.FromMilliseconds(100) || PollInterval > InvisibilityTimeout)
            throw new ArgumentOutOfRangeException(nameof(PollInterval), PollInterval, $"the poll interval must be between 0.1 s and the invisibility timeout ({InvisibilityTimeout.TotalSeconds:0.#} s).");
        ArgumentException.ThrowIfNullOrWhiteSpace(SchemaName);
    }

    /// <summary>Hangfire storage on the database, creating Hangfire's schema when it is missing.</summary>
    internal PostgreSqlStorage CreateStorage()
    {
        Validate();
        var storage = new PostgreSqlStorageOptions
        {
            InvisibilityTimeout = InvisibilityTimeout,
            UseSlidingInvisibilityTimeout = true,
            QueuePollInterval = PollInterval,
            SchemaName = SchemaName,
            PrepareSchemaIfNecessary = true,
        };
        // One plain connection first, so an unreachable or refusing database is one clear error, not Hangfire's startup retries.
        try
        {
            using var probe = new Npgsql.NpgsqlConnection(ConnectionString);
            probe.Open();
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException)
        {
            throw new InvalidOperationException($"cannot reach the queue database {Describe()}: {e.Message}", e);
        }
        return new PostgreSqlStorage(new NpgsqlConnectionFactory(ConnectionString, storage), storage);
    }

    /// <summary>Host, port and database of the connection string (never the password), for messages.</summary>
    internal string Describe()
    {
        var b = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
        return $"at {b.Host ?? "(no Host)"}:{b.Port} (database '{b.Database ?? b.Username ?? "(default)"}', user '{b.Username ?? Environment.UserName}')";
    }
}
