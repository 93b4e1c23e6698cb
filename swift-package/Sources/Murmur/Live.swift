// Live transcription: a session fed the microphone's buffers as they come, whose events
// (partial and confirmed text, cleaned-up sentences, the result) are a stream.

import MurmurBindings

/// A live transcription (`Engine.liveTranscription`): text while the user is still
/// speaking, and the cleanup done by the time they stop.
///
/// Push the microphone's samples as they come, from any thread (an audio tap's
/// included: a push converts and appends, it never waits for a model); read `events`;
/// call `finish()` when the user stops. `cancel()`, cancelling the task that reads
/// `events`, or releasing the session stops all work.
///
/// ```swift
/// let live = try await engine.liveTranscription(
///     LiveOptions(format: PcmFormat(sampleRate: 48_000, channels: 2)))
/// Task {
///     for try await event in live.events {
///         if case .confirmed(let text, _, _) = event { print(text, terminator: "") }
///     }
/// }
/// try live.push(samples)             // as the microphone gives them, interleaved
/// let result = try await live.finish()
/// ```
public final class LiveTranscription: Sendable {
    private let session: LiveSessionHandle
    private let continuation: AsyncThrowingStream<LiveEvent, any Error>.Continuation

    /// What the session reports, in order: `.partial` text (the words after the
    /// confirmed ones, which may still change; each replaces the last), `.confirmed`
    /// text (words that never change: all of them joined are the transcript, each with
    /// Whisper's leading space), `.refined` (a confirmed stretch and its cleanup, done
    /// while the audio still comes), then `.final` with the result, after which the
    /// stream ends. It throws the session's error when `finish()` fails, and
    /// `CancellationError` after `cancel()`; cancelling the task that iterates it
    /// cancels the session. One consumer.
    public let events: MurmurStream<LiveEvent>

    init(
        _ session: LiveSessionHandle, events: AsyncThrowingStream<LiveEvent, any Error>,
        continuation: AsyncThrowingStream<LiveEvent, any Error>.Continuation
    ) {
        self.session = session
        self.continuation = continuation
        self.events = MurmurStream(events)
        // Weak: the engine's listener holds this stream until the session ends, and the
        // session must not be kept alive by it once its owner lets it go.
        continuation.onTermination = { [weak session] termination in
            if case .cancelled = termination { session?.cancel() }
        }
    }

    deinit {
        // Released: the session is cancelled (the handle's release), and so is its stream.
        continuation.finish(throwing: CancellationError())
    }

    /// Appends interleaved float samples (in [-1, 1]) in the session's format. Throws
    /// `MurmurError.audioTooLong` once this machine's recording limit is reached (the
    /// audio before it is kept: `finish()` gives its text), `.invalidArgument` (`session`)
    /// after `finish()` or once the session stopped on an error (which `finish()`
    /// throws), and `CancellationError` after a cancel.
    public func push(_ samples: [Float]) throws {
        try liveErrors { try session.push(samples: samples) }
    }

    /// Appends interleaved signed 16-bit samples; as `push(_:)` for floats.
    public func push(_ samples: [Int16]) throws {
        try liveErrors { try session.pushI16(samples: samples) }
    }

    /// Seconds of audio received so far.
    public var audioSecs: Double { session.audioSecs() }

    /// Ends the audio and waits for the result: the last words decoded and cleaned up,
    /// the whole text checked to be an edit of the transcript (as `dictate`'s is; its
    /// `timings.finishSecs` is the wait after the end of the audio). `events` gets it as
    /// `.final` too, then ends, or ends with the error this throws. Cancelling the
    /// calling task cancels the session (`CancellationError`).
    @discardableResult
    public func finish() async throws -> DictateResult {
        do {
            return try await withTaskCancellationHandler {
                try await session.finish()
            } onCancel: { [session] in
                session.cancel()
            }
        } catch {
            let error = liveError(error)
            continuation.finish(throwing: error)
            throw error
        }
    }

    /// Stops the session: the work stops, pushes throw and `finish()` throws
    /// `CancellationError`, and `events` ends with it.
    public func cancel() {
        continuation.finish(throwing: CancellationError())
        session.cancel()
    }
}

/// A live session's error as a caller sees it: the session is only ever cancelled by its
/// owner (`cancel()`, a cancelled task, its release), so `.Cancelled` is
/// `CancellationError`; the rest are `MurmurError`s.
private func liveError(_ error: any Error) -> any Error {
    guard let error = error as? FfiError else { return error }
    if case .Cancelled = error { return CancellationError() }
    return MurmurError(error)
}

private func liveErrors(_ call: () throws -> Void) throws {
    do {
        try call()
    } catch {
        throw liveError(error)
    }
}
