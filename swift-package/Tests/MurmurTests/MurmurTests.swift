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
let jfk = fixtures.appendingPathComponent("audio/jfk.wav")

/// An engine over a private, offline cache that knows the fixture models.
func makeEngine(ramBytes: UInt64 = 8 << 30) throws -> Engine {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("murmur-swift-\(UUID().uuidString)")
    let engine = try Engine(
        configuration: EngineConfig(
            cacheDirectory: dir.appendingPathComponent("hub"),
            configDirectory: dir.appendingPathComponent("config"),
            offline: true, idleUnload: .zero, ramBytes: ramBytes))
    try engine.addModel(at: fixtures.appendingPathComponent("smollm2"), id: "fixture-smol")
    try engine.addModel(at: fixtures.appendingPathComponent("whisper-base-ct2"), id: "fixture-whisper")
    return engine
}

/// One engine for most tests (the models load once).
let shared: Engine = try! makeEngine()

/// Greedy, so the output does not depend on the CPU's float paths.
func greedy(_ maxTokens: UInt32, mode: RefineMode = .fixGrammar) -> RefineOptions {
    RefineOptions(model: "fixture-smol", mode: mode, temperature: 0, maxTokens: maxTokens, seed: 7)
}

let longStory = RefineOptions(
    model: "fixture-smol", mode: .custom(prompt: "Write a very long story about the sea."),
    temperature: 0, maxTokens: 400)

/// Waits (up to 10 s) until `condition` holds.
func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<1000 where !condition() {
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

@Suite(.serialized)
struct MurmurTests {
    @Test func listsModels() throws {
        let models = shared.models()
        #expect(models.contains { $0.id == "qwen3-1.7b" && $0.repo != nil })
        let smol = try #require(models.first { $0.id == "fixture-smol" })
        #expect(smol.state == .downloaded)
        #expect(smol.capabilities == [.text])
        #expect(smol.localURL == fixtures.appendingPathComponent("smollm2"))
        #expect(models.first { $0.id == "fixture-whisper" }?.capabilities == [.audio])
        #expect(try shared.recommendedModel().id == "qwen3-1.7b")
        #expect(try shared.recommendedModel(for: .audio).id == "whisper-base")
    }

    @Test func aCallNamingNoModelUsesTheOneOnDisk() async throws {
        // 24 GB recommends qwen3-8b, which is not downloaded: the model the user added is.
        let engine = try makeEngine(ramBytes: 24 << 30)
        #expect(try engine.recommendedModel().id == "qwen3-8b")
        var options = greedy(8)
        options.model = nil
        let result = try await engine.refine("hello there", options: options)
        #expect(result.model == "fixture-smol")
        #expect(!result.text.isEmpty)
        try await engine.unload()
    }

    @Test func aGgufFileWorksWhereAnIdDoes() async throws {
        let gguf = try #require(
            FileManager.default.contentsOfDirectory(
                at: fixtures.appendingPathComponent("smollm2"), includingPropertiesForKeys: nil
            ).first { $0.pathExtension == "gguf" })
        let added = try shared.addModel(at: gguf, id: "smol-file")
        #expect(added.capabilities == [.text])
        var options = greedy(4)
        options.model = gguf.path
        let result = try await shared.refine("hello", options: options)
        #expect(result.model == "smol-file")
        try await shared.unload()  // a loaded model cannot be removed
        try shared.removeModel("smol-file")
    }

    @Test func refineStreamsTokensThenTheResult() async throws {
        var tokens: [String] = []
        var done: RefineResult?
        for try await event in shared.refineStream("i has a apple and he have two", options: greedy(24)) {
            switch event {
            case .token(let text):
                #expect(done == nil, "tokens come before the result")
                tokens.append(text)
            case .done(let result): done = result
            }
        }
        let result = try #require(done)
        #expect(tokens.count > 1)
        #expect(tokens.joined().trimmingCharacters(in: .whitespacesAndNewlines) == result.text)
        #expect(result.stats.generatedTokens > 0 && result.stats.generatedTokens <= 24)
        #expect([.eos, .maxTokens].contains(result.stats.stopReason))
        #expect(result.model == "fixture-smol")
        // The same greedy generation without streaming.
        #expect(try await shared.refine("i has a apple and he have two", options: greedy(24)).text == result.text)
        #expect(shared.status.loaded == "fixture-smol")
    }

    @Test func cancellingARefineThrowsCancellationError() async throws {
        let task = Task { try await shared.refine("Tell me a long story about a ship.", options: longStory) }
        #expect(try await eventually { shared.status.inUse }, "generation starts")
        try await Task.sleep(for: .milliseconds(200))
        let cancelledAt = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(ContinuousClock.now - cancelledAt < .seconds(2))
        #expect(try await eventually { !shared.status.inUse })
    }

    @Test func cancellingAStreamingTaskThrowsCancellationError() async throws {
        let started = AsyncStream<Void>.makeStream()
        let task = Task {
            var tokens = 0
            for try await event in shared.refineStream("A long story, please.", options: longStory) {
                if case .token = event {
                    tokens += 1
                    if tokens == 2 { started.continuation.yield() }
                }
            }
            return tokens
        }
        var waiting = started.stream.makeAsyncIterator()
        _ = await waiting.next()
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await eventually { !shared.status.inUse })
    }

    @Test func endingAStreamEarlyStopsGeneration() async throws {
        var count = 0
        for try await _ in shared.refineStream("A long story, please.", options: longStory) {
            count += 1
            if count == 2 { break }
        }
        #expect(try await eventually { !shared.status.inUse })
    }

    @Test func transcribesJfkToTheGoldenSentence() async throws {
        let goldens = repoRoot.appendingPathComponent("tests/goldens/whisper/transcripts.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: goldens)) as? [String: Any]
        let golden = try #require((json?["jfk"] as? [String: Any])?["text"] as? String)
        let expected = golden.trimmingCharacters(in: .whitespaces)
        let options = TranscribeOptions(model: "fixture-whisper")
        let transcript = try await shared.transcribe(contentsOf: jfk, options: options)
        #expect(transcript.text == expected)
        #expect(transcript.model == "fixture-whisper")
        #expect(transcript.language == "en")
        #expect(abs(transcript.duration - 11.0) < 0.01)
        var segments: [Segment] = []
        var done: Transcript?
        for try await event in shared.transcriptionStream(.file(jfk), options: options) {
            switch event {
            case .segment(let segment): segments.append(segment)
            case .done(let t): done = t
            }
        }
        #expect(done == transcript)
        #expect(segments == transcript.segments)
    }

    @Test func cancellingATranscriptionThrowsCancellationError() async throws {
        let options = TranscribeOptions(model: "fixture-whisper")
        try await shared.load("fixture-whisper")
        let task = Task { try await shared.transcribe(contentsOf: jfk, options: options) }
        #expect(try await eventually { shared.status.inUse }, "transcription starts")
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await eventually { !shared.status.inUse })
    }

    @Test func eventsFollowLoadAndUnload() async throws {
        let stream = shared.events()  // subscribed from here on
        let unloaded = EngineEvent.unloaded(modelId: "fixture-smol", reason: .requested)
        let listening = Task {
            for await event in stream where event == unloaded { return true }
            return false
        }
        try await shared.load("fixture-smol")
        #expect(try await shared.unload().contains("fixture-smol"))
        #expect(await listening.value)
        #expect(shared.status.loaded == nil)
    }

    @Test func cancellingTheTaskCancelsALoad() async throws {
        let load = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await shared.load("fixture-whisper")
        }
        await #expect(throws: CancellationError.self) { try await load.value }
    }

    @Test func errorsAreTypedAndReadWell() async throws {
        await #expect(throws: MurmurError.unknownModel(id: "no-such-model")) {
            try await shared.refine("hello", options: RefineOptions(model: "no-such-model"))
        }
        do {
            try await shared.load("qwen3-0.6b")
            Issue.record("loading a model that is not downloaded worked")
        } catch let error as MurmurError {
            #expect(error == .notDownloaded(model: "qwen3-0.6b"))
            #expect("\(error)" == "model qwen3-0.6b is not downloaded")
            #expect(error.localizedDescription == "model qwen3-0.6b is not downloaded")
        }
    }

    @Test func corruptAudioIsATypedError() async throws {
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("murmur-corrupt.wav")
        try Data("RIFF$\0\0\0WAVEfmt this is not audio".utf8).write(to: bad)
        do {
            _ = try await shared.transcribe(
                contentsOf: bad, options: TranscribeOptions(model: "fixture-whisper"))
            Issue.record("corrupt audio was accepted")
        } catch MurmurError.audio(let path, let reason) {
            #expect(path == bad.path)
            #expect(!reason.isEmpty)
        }
    }
}
