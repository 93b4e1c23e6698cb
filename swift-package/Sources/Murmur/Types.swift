// The value types of Murmur's Swift API: the generated records and enums (one definition
// each, in Rust), named here so that `import Murmur` is all an app needs, plus the Swift
// conveniences they lack (URLs, error descriptions).

import Foundation
import MurmurBindings

public typealias EngineConfig = MurmurBindings.EngineConfig
public typealias EngineStatus = MurmurBindings.EngineStatus
public typealias EngineEvent = MurmurBindings.EngineEvent
public typealias MemoryUsage = MurmurBindings.MemoryUsage
public typealias ActiveDownload = MurmurBindings.ActiveDownload
public typealias ModelInfo = MurmurBindings.ModelInfo
public typealias ModelState = MurmurBindings.ModelState
public typealias UnloadReason = MurmurBindings.UnloadReason
public typealias Capability = MurmurBindings.Capability
public typealias DownloadProgress = MurmurBindings.DownloadProgress
public typealias RefineMode = MurmurBindings.RefineMode
public typealias RefineOptions = MurmurBindings.RefineOptions
public typealias RefineResult = MurmurBindings.RefineResult
public typealias GenerationStats = MurmurBindings.GenerationStats
public typealias StopReason = MurmurBindings.StopReason
public typealias ChatMessage = MurmurBindings.ChatMessage
public typealias ChatOptions = MurmurBindings.ChatOptions
public typealias ChatResult = MurmurBindings.ChatResult
public typealias FinishReason = MurmurBindings.FinishReason
public typealias Usage = MurmurBindings.Usage
public typealias AudioSource = MurmurBindings.AudioSource
public typealias TranscribeOptions = MurmurBindings.TranscribeOptions
public typealias TranscribeTask = MurmurBindings.TranscribeTask
public typealias Transcript = MurmurBindings.Transcript
public typealias Segment = MurmurBindings.Segment
public typealias Word = MurmurBindings.Word
public typealias DictateOptions = MurmurBindings.DictateOptions
public typealias DictateResult = MurmurBindings.DictateResult
public typealias DictateStage = MurmurBindings.DictateStage
public typealias Edit = MurmurBindings.Edit
public typealias EditKind = MurmurBindings.EditKind
public typealias StageTimings = MurmurBindings.StageTimings
public typealias Warning = MurmurBindings.Warning
public typealias WarningCode = MurmurBindings.WarningCode
public typealias LiveOptions = MurmurBindings.LiveOptions
public typealias LiveEvent = MurmurBindings.LiveEvent
public typealias PcmFormat = MurmurBindings.PcmFormat
public typealias Limits = MurmurBindings.Limits
public typealias RamTier = MurmurBindings.RamTier
public typealias Vocabulary = MurmurBindings.Vocabulary
public typealias Replacement = MurmurBindings.Replacement
public typealias AddOutcome = MurmurBindings.AddOutcome
public typealias Removed = MurmurBindings.Removed
public typealias Imported = MurmurBindings.Imported

extension EngineConfig {
    /// A configuration with Murmur's folders at `cacheDirectory` (the Hugging Face cache
    /// layout) and `configDirectory`; other fields as in the memberwise initializer.
    public init(
        cacheDirectory: URL, configDirectory: URL? = nil, offline: Bool? = nil,
        idleUnload: Duration? = nil, defaultModel: String? = nil,
        defaultAudioModel: String? = nil, ramBytes: UInt64? = nil
    ) {
        self.init(
            cacheDir: cacheDirectory.path, configDir: configDirectory?.path, offline: offline,
            idleUnloadSecs: idleUnload.map {
                Double($0.components.seconds) + Double($0.components.attoseconds) * 1e-18
            },
            defaultModel: defaultModel, defaultAudioModel: defaultAudioModel, ramBytes: ramBytes)
    }
}

extension AudioSource {
    /// An audio file (WAV, FLAC, MP3, M4A, OGG) at `url`.
    public static func file(_ url: URL) -> AudioSource {
        .file(path: url.path)
    }
}

extension ModelInfo {
    /// The folder or file a local model lives at (`nil` for Hub models).
    public var localURL: URL? { localFolder.map { URL(fileURLWithPath: $0) } }
}

extension Edit {
    /// The edit's words in `transcript` (the result's): its range there, counted in
    /// Unicode scalars as edits are; `nil` when the string is too short for it.
    public func transcriptRange(in transcript: String) -> Range<String.Index>? {
        scalarRange(transcript, Int(beforeStart), Int(beforeEnd))
    }

    /// The edit's words in `text` (the result's): its range there; `nil` when the
    /// string is too short for it.
    public func textRange(in text: String) -> Range<String.Index>? {
        scalarRange(text, Int(afterStart), Int(afterEnd))
    }
}

private func scalarRange(_ s: String, _ start: Int, _ end: Int) -> Range<String.Index>? {
    let scalars = s.unicodeScalars
    guard start <= end,
        let lower = scalars.index(scalars.startIndex, offsetBy: start, limitedBy: scalars.endIndex),
        let upper = scalars.index(lower, offsetBy: end - start, limitedBy: scalars.endIndex)
    else { return nil }
    return lower..<upper
}
