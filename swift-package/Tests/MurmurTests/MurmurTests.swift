// Murmur from Swift on the real fixtures (scripts/fixtures.sh): SmolLM2-135M (GGUF) for
// refinement, Whisper base (CTranslate2) for transcription. Run by
// scripts/test-bindings.sh, on Linux inside a Debian trixie chroot.

import Foundation
import Murmur
import Testing

let env = ProcessInfo.processInfo.environment
let fixtures = URL(fileURLWithPath: env["MURMUR_FIXTURES"] ?? "/var/cache/murmur/fixtures")
let repoRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// One engine for every test (the models load once), over a private, offline cache.
let shared: Engine = {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("murmur-swift-\(UUID().uuidString)")
    let engine = try! Engine(
        config: EngineConfig(
            cacheDir: dir.appendingPathComponent("hub").path,
            configDir: dir.appendingPathComponent("config").path,
            offline: true, idleUnloadSecs: 0, ramBytes: 8 << 30))
    _ = try! engine.addModel(
        model: AddModel(source: fixtures.appendingPathComponent("smollm2").path, id: "fixture-smol"))
    _ = try! engine.addModel(
        model: AddModel(
            source: fixtures.appendingPathComponent("whisper-base-ct2").path, id: "fixture-whisper"))
    return engine
}()

/// Greedy, so the output does not depend on the CPU's float paths.
func greedy(_ maxTokens: UInt32, mode: RefineMode = .fixGrammar) -> RefineOptions {
    RefineOptions(model: "fixture-smol", mode: mode, temperature: 0, maxTokens: maxTokens, seed: 7)
}

/// Values appended from engine threads.
final class Collector<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) { lock.withLock { items.append(item) } }
    var all: [T] { lock.withLock { items } }
}

@Suite(.serialized)
struct MurmurTests {
    @Test func listsModels() throws {
        let models = shared.models()
        #expect(models.contains { $0.id == "qwen3-1.7b" && $0.repo != nil })
        let smol = try #require(models.first { $0.id == "fixture-smol" })
        #expect(smol.state == .downloaded)
        #expect(smol.capabilities == [.text])
        #expect(models.first { $0.id == "fixture-whisper" }?.capabilities == [.audio])
        #expect(try shared.recommendedModel().id == "qwen3-1.7b")
    }

    @Test func refineStreamsTokensInOrder() async throws {
        var streamed: [String] = []
        for try await token in shared.refineStream("i has a apple and he have two", options: greedy(24)) {
            streamed.append(token)
        }
        #expect(streamed.count > 1)
        let tokens = Collector<String>()
        let result = try await shared.refine(
            "i has a apple and he have two", options: greedy(24)
        ) { tokens.append($0) }
        #expect(!result.text.isEmpty)
        // The same greedy generation twice, and the pieces add up to the result, in order.
        #expect(tokens.all == streamed)
        #expect(tokens.all.joined().trimmingCharacters(in: .whitespacesAndNewlines) == result.text)
        #expect(result.stats.generatedTokens > 0 && result.stats.generatedTokens <= 24)
        #expect(shared.status().loaded == "fixture-smol")
    }

    @Test func cancellingTheTaskStopsGeneration() async throws {
        let tokens = Collector<String>()
        let options = greedy(400, mode: .custom(prompt: "Write a very long story about the sea."))
        let task = Task {
            try await shared.refine("Tell me a long story about a ship and its crew.", options: options) {
                tokens.append($0)
            }
        }
        var waited = 0
        while tokens.all.count < 3 && waited < 12_000 {
            try await Task.sleep(for: .milliseconds(5))
            waited += 1
        }
        #expect(tokens.all.count >= 3, "generation streams before it is cancelled")
        task.cancel()
        let result = try await task.value
        #expect(result.stats.stopReason == .cancelled)
        #expect(result.stats.generatedTokens < 400)
        let seen = tokens.all.count
        try await Task.sleep(for: .milliseconds(300))
        #expect(tokens.all.count == seen, "no tokens after the call returned")
        #expect(!shared.status().inUse)
    }

    @Test func endingAStreamEarlyStopsGeneration() async throws {
        var count = 0
        let options = greedy(400, mode: .custom(prompt: "Write a very long story about the sea."))
        for try await _ in shared.refineStream("A long story, please.", options: options) {
            count += 1
            if count == 2 { break }
        }
        // The engine is free again soon (the cancel reaches Rust within one token).
        var waited = 0
        while shared.status().inUse && waited < 200 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(!shared.status().inUse)
    }

    @Test func transcribesJfkToTheGoldenSentence() async throws {
        let goldens = repoRoot.appendingPathComponent("tests/goldens/whisper/transcripts.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: goldens)) as? [String: Any]
        let expected = try #require((json?["jfk"] as? [String: Any])?["text"] as? String)
        let segments = Collector<Segment>()
        let transcript = try await shared.transcribe(
            .file(fixtures.appendingPathComponent("audio/jfk.wav")),
            options: TranscribeOptions(model: "fixture-whisper")
        ) { segments.append($0) }
        #expect(transcript.text == expected)
        #expect(transcript.language == "en")
        #expect(segments.all == transcript.segments)
        #expect(abs(transcript.duration - 11.0) < 0.01)
    }

    @Test func eventsFollowLoadAndUnload() async throws {
        let events = Collector<EngineEvent>()
        let stream = shared.events()  // subscribed from here on
        let listening = Task {
            for await event in stream {
                events.append(event)
            }
        }
        try await shared.load("fixture-smol")
        let unloaded = try await shared.unload()
        #expect(unloaded.contains("fixture-smol"))
        var waited = 0
        while !events.all.contains(.unloaded(modelId: "fixture-smol", reason: .requested)) && waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        listening.cancel()
        #expect(events.all.contains(.unloaded(modelId: "fixture-smol", reason: .requested)))
        #expect(shared.status().loaded == nil)
    }

    @Test func cancellingTheTaskCancelsALoad() async throws {
        let load = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await shared.load("fixture-whisper")
        }
        await #expect(throws: MurmurError.Cancelled) { try await load.value }
    }

    @Test func missingModelIsATypedError() async throws {
        await #expect(throws: MurmurError.UnknownModel(id: "no-such-model")) {
            try await shared.refine("hello", options: RefineOptions(model: "no-such-model"))
        }
        await #expect(throws: MurmurError.NotDownloaded(model: "qwen3-0.6b")) {
            try await shared.load("qwen3-0.6b")
        }
    }

    @Test func corruptAudioIsATypedError() async throws {
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("murmur-corrupt.wav")
        try Data("RIFF$\0\0\0WAVEfmt this is not audio".utf8).write(to: bad)
        do {
            _ = try await shared.transcribe(
                .file(bad), options: TranscribeOptions(model: "fixture-whisper"))
            Issue.record("corrupt audio was accepted")
        } catch let MurmurError.Audio(path, reason) {
            #expect(path == bad.path)
            #expect(!reason.isEmpty)
        }
    }
}
