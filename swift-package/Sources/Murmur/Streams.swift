// How engine calls meet Swift concurrency: a cancel handle tripped by task cancellation,
// `CancellationError` for every call a cancelled task ended, and streams of events.

import MurmurBindings

/// What `Engine.refineStream` yields.
public enum RefineEvent: Sendable, Equatable {
    /// A piece of refined text, in order.
    case token(String)
    /// The whole result: text, stop reason, counts, model. Last.
    case done(RefineResult)
}

/// What `Engine.chatStream` yields.
public enum ChatEvent: Sendable, Equatable {
    /// A piece of the answer, in order.
    case token(String)
    /// The whole result: text, finish reason, usage, model. Last.
    case done(ChatResult)
}

/// What `Engine.transcriptionStream` yields.
public enum TranscriptionEvent: Sendable, Equatable {
    /// A segment, as its window is decoded.
    case segment(Segment)
    /// The whole transcript. Last.
    case done(Transcript)
}

/// What `Engine.dictationStream` yields.
public enum DictationEvent: Sendable, Equatable {
    /// A stage began: decoding the audio, finding the speech, transcribing, cleaning up.
    case stage(DictateStage)
    /// The audio's length in seconds, once known (before any model loads).
    case duration(Double)
    /// A transcript segment, timed in the original audio.
    case segment(Segment)
    /// Cleaned-up text as it is generated, before the check that it is an edit of the
    /// transcript: the result's `text` is what counts.
    case text(String)
    /// The whole result. Last.
    case done(DictateResult)

    init(_ event: DictateEvent) {
        switch event {
        case .stage(let stage): self = .stage(stage)
        case .duration(let seconds): self = .duration(seconds)
        case .segment(let segment): self = .segment(segment)
        case .text(let delta): self = .text(delta)
        }
    }
}

/// What `Engine.downloadStream` yields.
public enum DownloadEvent: Sendable, Equatable {
    case progress(DownloadProgress)
    /// The downloaded model. Last.
    case done(ModelInfo)
}

/// Events of one engine call, ending with `.done`. A call that fails throws its
/// `MurmurError`; one whose consuming task is cancelled throws `CancellationError`;
/// ending the iteration early (or dropping the stream) stops the work in the engine.
public struct MurmurStream<Element: Sendable>: AsyncSequence, Sendable {
    fileprivate let base: AsyncThrowingStream<Element, any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate var base: AsyncThrowingStream<Element, any Error>.AsyncIterator

        public mutating func next() async throws -> Element? {
            // A stream whose consumer is cancelled just ends; say why instead.
            guard let element = try await base.next() else {
                try Task.checkCancellation()
                return nil
            }
            return element
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator())
    }

    init(_ base: AsyncThrowingStream<Element, any Error>) {
        self.base = base
    }
}

/// Runs `call` with a fresh `CancelHandle` that cancelling the calling task trips. A call
/// that the task's cancellation ended throws `CancellationError`, whether the engine
/// threw `.Cancelled` or returned what it had (a refine stopped mid-way); other engine
/// errors are thrown as `MurmurError`.
func cancellable<T: Sendable>(_ call: (CancelHandle) async throws -> T) async throws -> T {
    let handle = CancelHandle()
    do {
        let value = try await withTaskCancellationHandler {
            try await call(handle)
        } onCancel: {
            handle.cancel()
        }
        if handle.isCancelled() { throw CancellationError() }
        return value
    } catch let error as FfiError {
        throw translated(error, handle)
    }
}

/// What a caller sees of an engine error: `CancellationError` when the task's cancellation
/// caused it, else the `MurmurError`.
private func translated(_ error: FfiError, _ handle: CancelHandle) -> any Error {
    if case .Cancelled = error, handle.isCancelled() { return CancellationError() }
    return MurmurError(error)
}

/// Runs `work` in a task feeding a stream: `work` yields the events along the way and
/// returns the last one. The stream's end (consumer gone or cancelled) trips the cancel
/// handle; a cancelled call ends the stream with `CancellationError`, without `.done`.
func stream<Element: Sendable>(
    _ work: @escaping @Sendable (AsyncThrowingStream<Element, any Error>.Continuation, CancelHandle)
        async throws -> Element
) -> MurmurStream<Element> {
    let (base, continuation) = AsyncThrowingStream<Element, any Error>.makeStream()
    let handle = CancelHandle()
    let task = Task {
        do {
            let last = try await work(continuation, handle)
            if handle.isCancelled() { throw CancellationError() }
            continuation.yield(last)
            continuation.finish()
        } catch let error as FfiError {
            continuation.finish(throwing: translated(error, handle))
        } catch {
            continuation.finish(throwing: error)
        }
    }
    continuation.onTermination = { _ in
        handle.cancel()
        task.cancel()
    }
    return MurmurStream(base)
}

/// Forwards refined text to a closure (called on an engine thread).
final class TokenSink: TokenListener {
    let forward: @Sendable (String) -> Void
    init(_ forward: @escaping @Sendable (String) -> Void) { self.forward = forward }
    func onToken(text: String) { forward(text) }
}

/// Forwards transcript segments to a closure.
final class SegmentSink: SegmentListener {
    let forward: @Sendable (Segment) -> Void
    init(_ forward: @escaping @Sendable (Segment) -> Void) { self.forward = forward }
    func onSegment(segment: Segment) { forward(segment) }
}

/// Forwards what a dictation reports to a closure.
final class DictateSink: DictateListener {
    let forward: @Sendable (DictateEvent) -> Void
    init(_ forward: @escaping @Sendable (DictateEvent) -> Void) { self.forward = forward }
    func onEvent(event: DictateEvent) { forward(event) }
}

/// Forwards what a live transcription reports to a closure.
final class LiveSink: LiveListener {
    let forward: @Sendable (LiveEvent) -> Void
    init(_ forward: @escaping @Sendable (LiveEvent) -> Void) { self.forward = forward }
    func onEvent(event: LiveEvent) { forward(event) }
}

/// Forwards download progress to a closure.
final class ProgressSink: DownloadListener {
    let forward: @Sendable (DownloadProgress) -> Void
    init(_ forward: @escaping @Sendable (DownloadProgress) -> Void) { self.forward = forward }
    func onProgress(progress: DownloadProgress) { forward(progress) }
}

/// Forwards engine events to a closure.
final class EventSink: EventListener {
    let forward: @Sendable (EngineEvent) -> Void
    init(_ forward: @escaping @Sendable (EngineEvent) -> Void) { self.forward = forward }
    func onEvent(event: EngineEvent) { forward(event) }
}
