namespace WfVae.Video;

/// <summary>
/// A video could not be read or written. The message always names the file and what went wrong
/// (missing file, no video stream, truncated or corrupt data, zero frames, ffmpeg not installed, ...).
/// </summary>
public class VideoIOException : IOException
{
    /// <summary>Creates an exception for <paramref name="filePath"/> describing <paramref name="problem"/>.</summary>
    /// <param name="filePath">The video (or output) file the operation was about.</param>
    /// <param name="problem">What went wrong, as a sentence fragment.</param>
    /// <param name="innerException">The underlying failure, if any.</param>
    public VideoIOException(string filePath, string problem, Exception? innerException = null)
        : base($"Video file '{filePath}': {problem}", innerException)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file the failed operation was about.</summary>
    public string FilePath { get; }

    /// <summary>What went wrong, without the file name.</summary>
    public string Problem { get; }
}
