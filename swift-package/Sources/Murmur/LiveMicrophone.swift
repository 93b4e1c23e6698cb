// The microphone, live: an AVAudioEngine tap whose buffers go to a live transcription.
// Compiled only where AVFoundation exists (Apple platforms).

#if canImport(AVFoundation)
import AVFoundation

/// Live transcription of the microphone: an `AVAudioEngine` tap on the input node pushes
/// each buffer, in the hardware's own format (any rate, any channel count, float or
/// 16-bit: Murmur converts it), to a `LiveTranscription`.
///
/// ```swift
/// let mic = LiveMicrophone()
/// let live = try await mic.start(engine, options: LiveOptions(dictate: DictateOptions(appName: "Notes")))
/// Task { for try await event in live.events { show(event) } }
/// // ... the user speaks, then taps Done:
/// let result = try await mic.stop()
/// ```
///
/// The app asks for microphone access first (`NSMicrophoneUsageDescription`; on iOS an
/// `AVAudioSession` with the `.record` or `.playAndRecord` category, made active).
@available(macOS 14.0, iOS 17.0, *)
public final class LiveMicrophone: @unchecked Sendable {
    // `@unchecked`: `audio` and `live` are only touched under `lock`.
    private let lock = NSLock()
    private let audio = AVAudioEngine()
    private var live: LiveTranscription?

    public init() {}

    /// Starts capturing and transcribing: a live session in the input node's format
    /// (`options.format` is set from it), the tap installed, the audio engine started.
    /// Throws the session's errors (a model not downloaded) and the audio engine's.
    public func start(_ engine: Engine, options: LiveOptions = LiveOptions()) async throws
        -> LiveTranscription
    {
        var options = options
        let format = lock.withLock { audio.inputNode.outputFormat(forBus: 0) }
        options.format = PcmFormat(format)
        let live = try await engine.liveTranscription(options)
        try lock.withLock {
            if let running = self.live {
                // Started twice: the first session goes on.
                live.cancel()
                throw MurmurError.invalidArgument(
                    name: "microphone",
                    reason: "already transcribing (\(running.audioSecs) s so far)")
            }
            let input = audio.inputNode
            input.installTap(onBus: 0, bufferSize: 4096, format: format) { @Sendable buffer, _ in
                // A tap cannot throw: a push refused (the recording limit, a cancel) is
                // reported by `finish()`.
                _ = try? live.push(buffer)
            }
            audio.prepare()
            do {
                try audio.start()
            } catch {
                input.removeTap(onBus: 0)
                live.cancel()
                throw error
            }
            self.live = live
        }
        return live
    }

    /// Stops capturing and waits for the result (`LiveTranscription.finish()`).
    @discardableResult
    public func stop() async throws -> DictateResult {
        guard let live = detach() else {
            throw MurmurError.invalidArgument(name: "microphone", reason: "not transcribing")
        }
        return try await live.finish()
    }

    /// Stops capturing and cancels the session.
    public func cancel() {
        detach()?.cancel()
    }

    /// The tap removed and the audio engine stopped; the session that was running.
    @discardableResult
    private func detach() -> LiveTranscription? {
        lock.withLock {
            guard let live = self.live else { return nil }
            audio.inputNode.removeTap(onBus: 0)
            audio.stop()
            self.live = nil
            return live
        }
    }
}

extension PcmFormat {
    /// The format of an `AVAudioFormat`'s samples as a live session takes them.
    public init(_ format: AVAudioFormat) {
        self.init(sampleRate: UInt32(format.sampleRate.rounded()), channels: UInt16(format.channelCount))
    }
}

extension LiveTranscription {
    /// Appends an `AVAudioPCMBuffer` (float or 16-bit, interleaved or not) in the
    /// session's format; as `push(_:)`.
    public func push(_ buffer: AVAudioPCMBuffer) throws {
        let frames = Int(buffer.frameLength)
        let channels = Int(buffer.format.channelCount)
        guard frames > 0, channels > 0 else { return }
        // Interleaved buffers hold every channel in their first one, `stride` apart.
        let interleaved = buffer.format.isInterleaved || channels == 1
        if let data = buffer.floatChannelData {
            try push(samples(data, frames: frames, channels: channels, interleaved: interleaved))
        } else if let data = buffer.int16ChannelData {
            try push(samples(data, frames: frames, channels: channels, interleaved: interleaved))
        } else {
            throw MurmurError.audio(
                path: nil, reason: "unsupported sample format \(buffer.format.commonFormat.rawValue)")
        }
    }
}

/// A buffer's samples interleaved: one pointer per channel, or one for all.
private func samples<T>(
    _ data: UnsafePointer<UnsafeMutablePointer<T>>, frames: Int, channels: Int, interleaved: Bool
) -> [T] {
    if interleaved {
        return Array(UnsafeBufferPointer(start: data[0], count: frames * channels))
    }
    return [T](unsafeUninitializedCapacity: frames * channels) { out, count in
        for c in 0..<channels {
            let channel = data[c]
            for f in 0..<frames {
                (out.baseAddress! + f * channels + c).initialize(to: channel[f])
            }
        }
        count = frames * channels
    }
}
#endif
