// The Swift face of Murmur: `Engine`, with `async` calls that honour task cancellation
// and streams of events, over the generated bindings (the internal MurmurBindings
// module, never edited by hand and not part of this API).

import Foundation
import MurmurBindings

/// Murmur's engine: models, downloads, loading, refinement, transcription, dictation
/// and live transcription, in process and on device. Cheap to share between tasks; calls on one model run one at a
/// time.
///
/// Every `async` call honours Swift task cancellation: cancelling the task stops the
/// work in the engine (generation within one token, transcription between encoder blocks
/// and decoding steps, a download or a load at once) and the call throws
/// `CancellationError`. Partial output, where it is useful, comes through the streams.
public final class Engine: Sendable {
    private let handle: EngineHandle

    /// An engine over `configuration`: fields left `nil` come from the environment
    /// (Hugging Face cache, `HF_TOKEN`, `MURMUR_*` variables). Nothing is loaded or
    /// downloaded until a call needs it.
    public init(configuration: EngineConfig = EngineConfig()) throws {
        handle = try translatingErrors { try EngineHandle(config: configuration) }
    }

    // MARK: Models

    /// Every built-in and added model, with its state.
    public func models() -> [ModelInfo] {
        handle.models()
    }

    /// One model by id, alias, repository or path.
    public func model(_ id: String) throws -> ModelInfo {
        try translatingErrors { try handle.model(id: id) }
    }

    /// The model recommended for this machine's memory.
    public func recommendedModel(for capability: Capability = .text) throws -> ModelInfo {
        try translatingErrors {
            switch capability {
            case .text: try handle.recommendedModel()
            case .audio: try handle.recommendedAudioModel()
            }
        }
    }

    /// Adds a Hugging Face repository (`org/name`, or `org/name@revision`), remembered
    /// for next time. What it is for is read from its files once downloaded.
    @discardableResult
    public func addModel(
        _ repository: String, id: String? = nil, capability: Capability? = nil
    ) throws -> ModelInfo {
        try translatingErrors {
            try handle.addModel(model: AddModel(source: repository, id: id, capability: capability))
        }
    }

    /// Adds the model at `url`: a `.gguf` file, or a folder holding a model. What it is
    /// for comes from its own files.
    @discardableResult
    public func addModel(at url: URL, id: String? = nil) throws -> ModelInfo {
        try translatingErrors { try handle.addModel(model: AddModel(source: url.path, id: id)) }
    }

    /// Forgets an added model (its files stay).
    public func removeModel(_ id: String) throws {
        try translatingErrors { try handle.removeModel(id: id) }
    }

    /// Downloads `model` (an id, alias or repository) into the Hugging Face cache,
    /// resuming a partial download, and reports progress to `onProgress`.
    @discardableResult
    public func download(
        _ model: String, onProgress: (@Sendable (DownloadProgress) -> Void)? = nil
    ) async throws -> ModelInfo {
        try await cancellable { cancel in
            try await self.handle.download(
                model: model, listener: onProgress.map(ProgressSink.init), cancel: cancel)
        }
    }

    /// Downloads `model`: its progress, then `.done` with the downloaded model.
    public func downloadStream(_ model: String) -> MurmurStream<DownloadEvent> {
        stream { continuation, cancel in
            .done(
                try await self.handle.download(
                    model: model, listener: ProgressSink { continuation.yield(.progress($0)) },
                    cancel: cancel))
        }
    }

    /// Deletes a downloaded model from the cache (refused while it is busy).
    public func delete(_ model: String) async throws {
        try await translatingErrors { try await handle.delete(model: model) }
    }

    /// Loads `model` (text or speech), replacing the loaded one of its kind. A cancelled
    /// task drops what was being read; the model stays downloaded.
    public func load(_ model: String) async throws {
        try await cancellable { cancel in
            try await self.handle.load(model: model, cancel: cancel)
        }
    }

    /// Unloads every loaded model once its running call finishes; returns their ids.
    @discardableResult
    public func unload() async throws -> [String] {
        try await translatingErrors { try await handle.unload() }
    }

    /// What is loaded, loading and downloading, and the memory in use.
    public var status: EngineStatus {
        handle.status()
    }

    /// Engine events (downloads, loads, unloads, failures) from now on, until the
    /// iteration ends.
    public func events() -> AsyncStream<EngineEvent> {
        AsyncStream { continuation in
            let subscription = handle.subscribe(listener: EventSink { continuation.yield($0) })
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }

    // MARK: Refinement

    /// Refines `text` with a text model: `options.model`, else the configured default,
    /// else the loaded one, else one on disk, else the recommendation (downloaded on
    /// first use). The result names the model.
    public func refine(
        _ text: String, options: RefineOptions = RefineOptions()
    ) async throws -> RefineResult {
        try await cancellable { cancel in
            try await self.handle.refine(text: text, options: options, listener: nil, cancel: cancel)
        }
    }

    /// Refines `text`, streaming `.token`s as they are generated, then `.done` with the
    /// result (its stop reason and counts). Ending the iteration early stops generation.
    public func refineStream(
        _ text: String, options: RefineOptions = RefineOptions()
    ) -> MurmurStream<RefineEvent> {
        stream { continuation, cancel in
            .done(
                try await self.handle.refine(
                    text: text, options: options,
                    listener: TokenSink { continuation.yield(.token($0)) }, cancel: cancel))
        }
    }

    // MARK: Chat

    /// Answers `options.messages` with a text model (chosen as `refine` chooses), with
    /// OpenAI's settings: temperature, top-p, a token budget, stop strings, a seed. The
    /// result has the finish reason and the token usage.
    public func chat(_ options: ChatOptions) async throws -> ChatResult {
        try await cancellable { cancel in
            try await self.handle.chat(options: options, listener: nil, cancel: cancel)
        }
    }

    /// Answers `options.messages`, streaming `.token`s as they are generated, then `.done`
    /// with the result. Ending the iteration early stops generation.
    public func chatStream(_ options: ChatOptions) -> MurmurStream<ChatEvent> {
        stream { continuation, cancel in
            .done(
                try await self.handle.chat(
                    options: options,
                    listener: TokenSink { continuation.yield(.token($0)) }, cancel: cancel))
        }
    }

    // MARK: Transcription

    /// Transcribes `audio` with a speech model (chosen as `refine` chooses). The text is
    /// trimmed; the result names the model.
    public func transcribe(
        _ audio: AudioSource, options: TranscribeOptions = TranscribeOptions()
    ) async throws -> Transcript {
        try await cancellable { cancel in
            try await self.handle.transcribe(
                audio: audio, options: options, listener: nil, cancel: cancel)
        }
    }

    /// Transcribes the audio file at `url` (WAV, FLAC, MP3, M4A, OGG).
    public func transcribe(
        contentsOf url: URL, options: TranscribeOptions = TranscribeOptions()
    ) async throws -> Transcript {
        try await transcribe(.file(url), options: options)
    }

    /// Transcribes `audio`, streaming each `.segment` as its 30 s window is decoded, then
    /// `.done` with the transcript.
    public func transcriptionStream(
        _ audio: AudioSource, options: TranscribeOptions = TranscribeOptions()
    ) -> MurmurStream<TranscriptionEvent> {
        stream { continuation, cancel in
            .done(
                try await self.handle.transcribe(
                    audio: audio, options: options,
                    listener: SegmentSink { continuation.yield(.segment($0)) }, cancel: cancel))
        }
    }
}

extension Engine {
    // MARK: Dictation

    /// Dictates `audio` in one call: the speech found in it (silence and long pauses
    /// trimmed), transcribed with the user's vocabulary, cleaned up by the text model and
    /// checked to be an edit of the transcript. The result holds the text, the
    /// transcript, the word edits between them, per-stage timings and warnings (no
    /// speech, a cleanup that was rejected or trimmed). Audio longer than
    /// `limits().maxRecordingSecs` throws `MurmurError.audioTooLong` before any model
    /// loads.
    public func dictate(
        _ audio: AudioSource, options: DictateOptions = DictateOptions()
    ) async throws -> DictateResult {
        try await cancellable { cancel in
            try await self.handle.dictate(
                audio: audio, options: options, listener: nil, cancel: cancel)
        }
    }

    /// Dictates the audio file at `url` (WAV, FLAC, MP3, M4A, OGG).
    public func dictate(
        contentsOf url: URL, options: DictateOptions = DictateOptions()
    ) async throws -> DictateResult {
        try await dictate(.file(url), options: options)
    }

    /// Dictates `audio`, streaming each `.stage` as it begins, the audio's `.duration`,
    /// transcript `.segment`s and the cleanup's `.text` as it is generated, then `.done`
    /// with the result. Ending the iteration early stops the work.
    public func dictationStream(
        _ audio: AudioSource, options: DictateOptions = DictateOptions()
    ) -> MurmurStream<DictationEvent> {
        stream { continuation, cancel in
            .done(
                try await self.handle.dictate(
                    audio: audio, options: options,
                    listener: DictateSink { continuation.yield(DictationEvent($0)) },
                    cancel: cancel))
        }
    }

    // MARK: Live transcription

    /// Starts a live transcription: text while the user is still speaking, and the
    /// cleanup done by the time they stop. Push the microphone's buffers to the returned
    /// session as they come (any rate and channel count: say which in `options.format`;
    /// `LiveMicrophone` does it with `AVAudioEngine` on Apple platforms), read its
    /// `events` (partial and confirmed text, cleaned-up sentences, the final result) and
    /// `finish()` it when the user stops. The options are checked and the models chosen
    /// now: a model not on disk throws `.notDownloaded` before the user speaks; the
    /// speech model then loads in the background.
    public func liveTranscription(_ options: LiveOptions = LiveOptions()) async throws
        -> LiveTranscription
    {
        let (events, continuation) = AsyncThrowingStream<LiveEvent, any Error>.makeStream()
        let sink = LiveSink { event in
            continuation.yield(event)
            if case .final = event { continuation.finish() }
        }
        let session = try await translatingErrors {
            try await handle.live(options: options, listener: sink)
        }
        return LiveTranscription(session, events: events, continuation: continuation)
    }

    /// This machine's dictation limits, by its memory tier: the longest recording
    /// `dictate` takes (show it as a countdown) and the cleanup's token ceiling.
    public func limits() -> Limits {
        handle.limits()
    }

    // MARK: Vocabulary

    /// The user's vocabulary: terms to spell as given, and spoken forms to write
    /// differently. Saved in the configuration folder and shared with the `murmur`
    /// command line and daemon; empty until something is added.
    public func vocabulary() throws -> Vocabulary {
        try translatingErrors { try handle.vocabulary() }
    }

    /// Adds a term to spell as given ("Dashwood", "macOS"); one equal to it ignoring case
    /// is respelled (`.updated`).
    @discardableResult
    public func addVocabularyTerm(_ term: String) throws -> AddOutcome {
        try translatingErrors { try handle.addVocabularyTerm(term: term) }
    }

    /// Adds a replacement: `written` wherever `spoken` is said ("murmur dot app" →
    /// "Murmur.app"); one with the same spoken form gets the new written form.
    @discardableResult
    public func addVocabularyReplacement(spoken: String, written: String) throws -> AddOutcome {
        try translatingErrors {
            try handle.addVocabularyReplacement(spoken: spoken, written: written)
        }
    }

    /// Removes the term `entry` and every replacement whose spoken or written form is
    /// `entry` (ignoring case). Throws `.invalidArgument` when nothing matched.
    @discardableResult
    public func removeVocabulary(_ entry: String) throws -> Removed {
        try translatingErrors { try handle.removeVocabulary(entry: entry) }
    }

    /// Imports the entries of the CSV file at `url`: one per row, `term` or
    /// `spoken,written` (an optional header row, quoted fields and `#` comments allowed).
    /// All of them or, on an error naming the line, none.
    @discardableResult
    public func importVocabulary(from url: URL) throws -> Imported {
        try translatingErrors { try handle.importVocabulary(path: url.path) }
    }
}

/// The version of the Murmur library.
public var murmurVersion: String { version() }
