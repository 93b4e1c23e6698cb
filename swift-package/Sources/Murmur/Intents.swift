// Shortcuts actions (App Intents): refine text, transcribe or dictate audio, download a
// model, all on device. Compiled only where the AppIntents framework exists (Apple platforms).

#if canImport(AppIntents)
import AppIntents
import Foundation
import UniformTypeIdentifiers

/// The engine the intents share: created once, with settings from the environment, so a
/// model stays loaded between actions until the idle timeout.
enum IntentEngine {
    static let shared: Result<Engine, any Error> = Result { try Engine() }
}

/// The refine modes offered in Shortcuts.
@available(macOS 14.0, iOS 17.0, *)
public enum RefineModeOption: String, AppEnum {
    case cleanUpTranscript
    case fixGrammar
    case makeConcise

    // Computed, not stored: no global state for Swift 6's concurrency checking.
    public static var typeDisplayRepresentation: TypeDisplayRepresentation { "Refine Mode" }
    public static var caseDisplayRepresentations: [RefineModeOption: DisplayRepresentation] {
        [
            .cleanUpTranscript: "Clean Up Transcript",
            .fixGrammar: "Fix Grammar",
            .makeConcise: "Make Concise",
        ]
    }

    var mode: RefineMode {
        switch self {
        case .cleanUpTranscript: .cleanUpTranscript
        case .fixGrammar: .fixGrammar
        case .makeConcise: .makeConcise
        }
    }
}

/// Refines text with the on-device model: punctuation, grammar, filler words.
@available(macOS 14.0, iOS 17.0, *)
public struct RefineTextIntent: AppIntent {
    public static var title: LocalizedStringResource { "Refine Text" }
    public static var description: IntentDescription {
        IntentDescription("Cleans up dictated text with a language model running on this device.")
    }

    @Parameter(title: "Text")
    public var text: String

    @Parameter(title: "Mode", default: .cleanUpTranscript)
    public var mode: RefineModeOption

    public init() {}

    public func perform() async throws -> some IntentResult & ReturnsValue<String> {
        let engine = try IntentEngine.shared.get()
        let result = try await engine.refine(text, options: RefineOptions(mode: mode.mode))
        return .result(value: result.text)
    }
}

/// Transcribes an audio file with the on-device Whisper model.
@available(macOS 14.0, iOS 17.0, *)
public struct TranscribeAudioIntent: AppIntent {
    public static var title: LocalizedStringResource { "Transcribe Audio" }
    public static var description: IntentDescription {
        IntentDescription("Turns speech in an audio file into text on this device.")
    }

    @Parameter(title: "Audio", supportedContentTypes: [.audio])
    public var audio: IntentFile

    @Parameter(title: "Language", description: "A language code such as en; empty detects it.")
    public var language: String?

    public init() {}

    public func perform() async throws -> some IntentResult & ReturnsValue<String> {
        let engine = try IntentEngine.shared.get()
        let transcript = try await engine.transcribe(
            .encoded(data: audio.data), options: TranscribeOptions(language: language))
        return .result(value: transcript.text)
    }
}

/// Dictates an audio file: the speech in it, transcribed with the user's vocabulary and
/// cleaned up, on device.
@available(macOS 14.0, iOS 17.0, *)
public struct DictateAudioFileIntent: AppIntent {
    public static var title: LocalizedStringResource { "Dictate Audio File" }
    public static var description: IntentDescription {
        IntentDescription(
            "Turns a recording into clean text on this device, with your vocabulary: punctuation, capitals and filler words fixed.")
    }

    @Parameter(title: "Audio", supportedContentTypes: [.audio])
    public var audio: IntentFile

    @Parameter(
        title: "Clean Up", description: "Fix punctuation, capitals and filler words.", default: true)
    public var cleanUp: Bool

    @Parameter(title: "Language", description: "A language code such as en; empty detects it.")
    public var language: String?

    @Parameter(title: "App", description: "The app the text is for, such as Mail.")
    public var appName: String?

    public init() {}

    public func perform() async throws -> some IntentResult & ReturnsValue<String> {
        let engine = try IntentEngine.shared.get()
        let result = try await engine.dictate(
            .encoded(data: audio.data),
            options: DictateOptions(language: language, refine: cleanUp, appName: appName))
        return .result(value: result.text)
    }
}

/// Downloads a model so that it works offline.
@available(macOS 14.0, iOS 17.0, *)
public struct DownloadModelIntent: AppIntent {
    public static var title: LocalizedStringResource { "Download Model" }
    public static var description: IntentDescription {
        IntentDescription(
            "Downloads a Murmur model (for example qwen3-1.7b or whisper-base) for use offline.")
    }

    @Parameter(title: "Model", description: "A model id, alias or Hugging Face repository.")
    public var model: String

    public init() {}

    public func perform() async throws -> some IntentResult & ReturnsValue<String> {
        let engine = try IntentEngine.shared.get()
        let info = try await engine.download(model)
        return .result(value: info.name)
    }
}
#endif
