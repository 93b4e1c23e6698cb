// The Swift face of Murmur over the generated bindings (Generated/Murmur.swift, never
// edited by hand): `async throws` calls that honour Swift task cancellation, and
// `AsyncThrowingStream`s for refined text, transcript segments and download progress.
//
// The generated async calls do not propagate Swift cancellation to Rust, so every call
// here runs inside `withTaskCancellationHandler` with a `CancelHandle` that the handler
// trips: cancelling the task stops generation within one token, transcription within
// one decoding step, a download or a load at once.

import Foundation

extension Engine {
    /// An engine with every setting from the environment (Hugging Face cache, `HF_TOKEN`,
    /// `MURMUR_*` variables). Nothing is loaded or downloaded until a call needs it.
    public convenience init() throws {
        try self.init(config: EngineConfig())
    }

    /// Refines `text` with a local model (loaded on first use), calling `onToken` with each
    /// piece of refined text in order (on an engine thread).
    ///
    /// Cancelling the calling task stops generation within one token; the result then has
    /// `stats.stopReason == .cancelled` (a call still queued behind another throws
    /// `MurmurError.Cancelled`).
    public func refine(
        _ text: String,
        options: RefineOptions = RefineOptions(),
        onToken: (@Sendable (String) -> Void)? = nil
    ) async throws -> RefineResult {
        try await cancellable { handle in
            try await self.refine(
                text: text, options: options, listener: onToken.map(TokenSink.init),
                cancel: handle)
        }
    }

    /// The refined text of `text`, streamed as it is generated. Ending the iteration early
    /// (or cancelling its task) stops generation.
    public func refineStream(
        _ text: String, options: RefineOptions = RefineOptions()
    ) -> AsyncThrowingStream<String, any Error> {
        stream { continuation, handle in
            _ = try await self.refine(
                text: text, options: options,
                listener: TokenSink { continuation.yield($0) }, cancel: handle)
        }
    }

    /// Transcribes `audio` with a local Whisper model (loaded on first use), calling
    /// `onSegment` with each segment as its 30 s window is decoded (on an engine thread).
    /// Cancelling the calling task throws `MurmurError.Cancelled` within one decoding step.
    public func transcribe(
        _ audio: AudioSource,
        options: TranscribeOptions = TranscribeOptions(),
        onSegment: (@Sendable (Segment) -> Void)? = nil
    ) async throws -> Transcript {
        try await cancellable { handle in
            try await self.transcribe(
                audio: audio, options: options, listener: onSegment.map(SegmentSink.init),
                cancel: handle)
        }
    }

    /// The transcript of `audio`, one segment at a time as each window is decoded.
    public func transcribeStream(
        _ audio: AudioSource, options: TranscribeOptions = TranscribeOptions()
    ) -> AsyncThrowingStream<Segment, any Error> {
        stream { continuation, handle in
            _ = try await self.transcribe(
                audio: audio, options: options,
                listener: SegmentSink { continuation.yield($0) }, cancel: handle)
        }
    }

    /// Downloads `model` (an id, alias or repository) into the Hugging Face cache,
    /// resuming a partial download; cancelling the task stops it.
    @discardableResult
    public func download(
        _ model: String, onProgress: (@Sendable (DownloadProgress) -> Void)? = nil
    ) async throws -> ModelInfo {
        try await cancellable { handle in
            try await self.download(
                model: model, listener: onProgress.map(ProgressSink.init), cancel: handle)
        }
    }

    /// Loads `model` (text or speech), replacing the loaded one of its kind. Cancelling the
    /// task throws `MurmurError.Cancelled` at once; what was being read is dropped and the
    /// model stays downloaded.
    public func load(_ model: String) async throws {
        try await cancellable { handle in
            try await self.load(model: model, cancel: handle)
        }
    }

    /// Download progress of `model`; the stream finishes when the download is complete.
    public func downloadProgress(_ model: String) -> AsyncThrowingStream<DownloadProgress, any Error> {
        stream { continuation, handle in
            _ = try await self.download(
                model: model, listener: ProgressSink { continuation.yield($0) }, cancel: handle)
        }
    }

    /// Engine events (downloads, loads, unloads, failures) from now on, until the
    /// iteration ends.
    public func events() -> AsyncStream<EngineEvent> {
        AsyncStream { continuation in
            let subscription = self.subscribe(listener: EventSink { continuation.yield($0) })
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }

    /// Runs `call` with a fresh `CancelHandle` that cancelling the calling task trips:
    /// every Rust call here honours Swift task cancellation through it.
    private func cancellable<T: Sendable>(
        _ call: (CancelHandle) async throws -> T
    ) async throws -> T {
        let handle = CancelHandle()
        return try await withTaskCancellationHandler {
            try await call(handle)
        } onCancel: {
            handle.cancel()
        }
    }

    /// Runs `work` in a task feeding a stream; the stream's end (consumer gone, task
    /// cancelled) trips the cancel handle.
    private func stream<Element: Sendable>(
        _ work: @escaping @Sendable (AsyncThrowingStream<Element, any Error>.Continuation, CancelHandle) async throws -> Void
    ) -> AsyncThrowingStream<Element, any Error> {
        AsyncThrowingStream { continuation in
            let handle = CancelHandle()
            let task = Task {
                do {
                    try await work(continuation, handle)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in
                handle.cancel()
                task.cancel()
            }
        }
    }
}

extension AudioSource {
    /// An audio file (WAV, FLAC, MP3, M4A, OGG) at `url`.
    public static func file(_ url: URL) -> AudioSource {
        .file(path: url.path)
    }
}

extension MurmurError: LocalizedError {
    /// The error's message, as the engine words it.
    public var errorDescription: String? { description }
}

/// Forwards refined text to a closure (thread-safe: the closure is `@Sendable`).
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
