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
public typealias AudioSource = MurmurBindings.AudioSource
public typealias TranscribeOptions = MurmurBindings.TranscribeOptions
public typealias TranscribeTask = MurmurBindings.TranscribeTask
public typealias Transcript = MurmurBindings.Transcript
public typealias Segment = MurmurBindings.Segment
public typealias Word = MurmurBindings.Word

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
