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

/// A new private folder for an engine's cache and settings.
func makeDirectory() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("murmur-swift-\(UUID().uuidString)")
}

/// An engine over a private, offline cache (in `dir`) that knows the fixture models.
func makeEngine(ramBytes: UInt64 = 8 << 30, dir: URL = makeDirectory()) throws -> Engine {
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

/// The JFK recording's golden transcript (tests/goldens/whisper/transcripts.json).
func jfkGolden() throws -> String {
    let goldens = repoRoot.appendingPathComponent("tests/goldens/whisper/transcripts.json")
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: goldens)) as? [String: Any]
    let golden = try #require((json?["jfk"] as? [String: Any])?["text"] as? String)
    return golden.trimmingCharacters(in: .whitespaces)
}

/// Dictation with the fixture models, in English, with a greedy cleanup.
func dictation(refine: Bool = true, vocabulary: Bool = true) -> DictateOptions {
    DictateOptions(
        speechModel: "fixture-whisper", textModel: "fixture-smol", language: "en", refine: refine,
        refineOptions: RefineOptions(temperature: 0, seed: 7), vocabulary: vocabulary)
}

/// The 16-bit samples of a PCM WAV file (interleaved) and their format, read from its
/// chunks as a microphone would hand them over.
func wavSamples(_ url: URL) throws -> (samples: [Int16], format: PcmFormat) {
    let bytes = [UInt8](try Data(contentsOf: url))
    func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
    func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    #expect(bytes.count > 12 && String(decoding: bytes[8..<12], as: UTF8.self) == "WAVE")
    var format: PcmFormat?
    var at = 12
    while at + 8 <= bytes.count {
        let (id, size) = (String(decoding: bytes[at..<at + 4], as: UTF8.self), Int(u32(at + 4)))
        let body = at + 8
        if id == "fmt " {
            #expect(u16(body) == 1 && u16(body + 14) == 16, "16-bit PCM")
            format = PcmFormat(sampleRate: u32(body + 4), channels: u16(body + 2))
        } else if id == "data", let format {
            let end = min(body + size, bytes.count)
            let samples = stride(from: body, to: end - 1, by: 2).map { Int16(bitPattern: u16($0)) }
            return (samples, format)
        }
        at = body + size + size % 2
    }
    throw MurmurError.audio(path: url.path, reason: "no 16-bit PCM data")
}

/// The lower-cased words of `text`, without punctuation.
func words(_ text: String) -> [String] {
    text.split(whereSeparator: \.isWhitespace)
        .map { String($0.filter { $0.isLetter || $0.isNumber }).lowercased() }
        .filter { !$0.isEmpty }
}

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

    @Test func chatAnswersStreamsAndStopsAtAStopString() async throws {
        let question = [ChatMessage(role: "user", content: "What is the capital of France?")]
        let options = ChatOptions(model: "fixture-smol", messages: question, temperature: 0, maxTokens: 24)
        var tokens: [String] = []
        var done: ChatResult?
        for try await event in shared.chatStream(options) {
            switch event {
            case .token(let text): tokens.append(text)
            case .done(let result): done = result
            }
        }
        let result = try #require(done)
        #expect(result.text.contains("Paris"))
        #expect(tokens.count > 1 && tokens.joined() == result.text)
        #expect(result.usage.totalTokens == result.usage.promptTokens + result.usage.completionTokens)
        #expect([.stop, .length].contains(result.finishReason))
        var cut = options
        cut.stop = ["Paris"]
        let stopped = try await shared.chat(cut)
        #expect(stopped.finishReason == .stop)
        #expect(stopped.text == String(result.text[..<result.text.range(of: "Paris")!.lowerBound]))
        var bad = options
        bad.temperature = 7
        await #expect(throws: MurmurError.self) { try await shared.chat(bad) }
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
        let expected = try jfkGolden()
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

    // MARK: Dictation

    @Test func dictatesJfkToCleanTextWithEditsAndTimings() async throws {
        let golden = try jfkGolden()
        let result = try await shared.dictate(contentsOf: jfk, options: dictation())
        #expect(result.transcript == golden)
        #expect(!result.text.isEmpty)
        #expect(result.language == "en")
        #expect(result.speechModel == "fixture-whisper")
        #expect(result.textModel == "fixture-smol")
        #expect(abs(result.audioSecs - 11.0) < 0.01)
        #expect(result.speechSecs > 5 && result.speechSecs <= result.audioSecs)
        #expect(!result.segments.isEmpty)
        #expect(result.segments.allSatisfy { Double($0.end) <= result.audioSecs + 0.5 })
        let t = result.timings
        #expect(t.decodeAudioSecs > 0 && t.vadSecs > 0 && t.transcribeSecs > 0 && t.refineSecs > 0)
        #expect(t.totalSecs >= t.decodeAudioSecs + t.vadSecs + t.transcribeSecs + t.refineSecs)
        #expect((result.refineStats?.generatedTokens ?? 0) > 0)
        #expect(!result.warnings.contains { $0.code == .noSpeech })
        // The cleanup kept the speaker's words (or was set aside for the transcript).
        let (text, spoken) = (words(result.text), words(result.transcript))
        #expect(text.filter { !spoken.contains($0) }.count * 5 <= max(text.count, 5))
        // Each edit names its words in both texts, and undoing the edits, last first,
        // gives the transcript back.
        for edit in result.edits {
            let before = edit.transcriptRange(in: result.transcript).map {
                String(result.transcript.unicodeScalars[$0])
            }
            let after = edit.textRange(in: result.text).map { String(result.text.unicodeScalars[$0]) }
            #expect(before == edit.before, "\(edit)")
            #expect(after == edit.after, "\(edit)")
        }
        var undone = Array(result.text.unicodeScalars)
        for edit in result.edits.reversed() {
            undone.replaceSubrange(
                Int(edit.afterStart)..<Int(edit.afterEnd), with: Array(edit.before.unicodeScalars))
        }
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: undone)
        #expect(String(scalars) == result.transcript)
    }

    @Test func dictationStreamsStagesSegmentsAndTextThenTheResult() async throws {
        let golden = try jfkGolden()
        var events: [DictationEvent] = []
        for try await event in shared.dictationStream(.file(jfk), options: dictation()) {
            events.append(event)
        }
        guard case .done(let result) = try #require(events.last) else {
            Issue.record("the stream did not end with the result")
            return
        }
        var stages: [DictateStage] = []
        var durations: [Double] = []
        var segments: [Segment] = []
        var text = ""
        for event in events.dropLast() {
            switch event {
            case .stage(let stage): stages.append(stage)
            case .duration(let seconds): durations.append(seconds)
            case .segment(let segment): segments.append(segment)
            case .text(let delta): text += delta
            case .done: Issue.record("a second result")
            }
        }
        #expect(stages == [.decodingAudio, .detectingSpeech, .transcribing, .refining])
        #expect(!durations.isEmpty && durations.allSatisfy { abs($0 - 11.0) < 0.01 })
        #expect(segments == result.segments)
        #expect(!text.isEmpty)
        #expect(result.transcript == golden)
        // The same greedy dictation without streaming.
        #expect(try await shared.dictate(.file(jfk), options: dictation()).text == result.text)
    }

    @Test func silenceGivesNoTextAndAWarning() async throws {
        let silence = AudioSource.pcm16k(samples: [Float](repeating: 0, count: 32_000))
        let result = try await shared.dictate(silence, options: dictation())
        #expect(result.text.isEmpty && result.transcript.isEmpty && result.edits.isEmpty)
        #expect(result.warnings.map(\.code) == [.noSpeech])
        #expect(result.textModel == nil && result.refineStats == nil)
        #expect(result.timings.transcribeSecs == 0 && result.timings.refineSecs == 0)
    }

    @Test func audioPastTheLimitIsRefusedBeforeAnyWork() async throws {
        let engine = try makeEngine()
        #expect(engine.limits().maxRecordingSecs == 360)
        let tooLong = AudioSource.pcmS16(
            samples: [Int16](repeating: 0, count: 16_000 * 362), sampleRate: 16_000, channels: 1)
        do {
            _ = try await engine.dictate(tooLong, options: dictation())
            Issue.record("audio past the limit was dictated")
        } catch MurmurError.audioTooLong(let seconds, let limitSecs) {
            #expect(limitSecs == 360 && seconds >= 362)
        }
        #expect(engine.status.loaded == nil && engine.status.loadedAudio == nil)
    }

    @Test func cancellingTheTaskCancelsADictation() async throws {
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await shared.dictate(contentsOf: jfk, options: dictation())
        }
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test func limitsFollowTheMemoryTier() throws {
        #expect(shared.limits() == Limits(ramTier: .small, maxRecordingSecs: 360, maxRefineTokens: 1536))
        let large = try makeEngine(ramBytes: 24 << 30)
        #expect(large.limits() == Limits(ramTier: .large, maxRecordingSecs: 720, maxRefineTokens: 3072))
    }

    // MARK: Live transcription

    @Test func liveTranscriptionOfJfkInPushesConfirmsTextThatAddsUpToTheResult() async throws {
        let golden = try jfkGolden()
        let (pcm, format) = try wavSamples(jfk)
        let started = ContinuousClock.now
        let live = try await shared.liveTranscription(LiveOptions(dictate: dictation(), format: format))
        let reading = Task {
            var events: [(pushedSecs: Double, event: LiveEvent)] = []
            for try await event in live.events { events.append((live.audioSecs, event)) }
            return events
        }
        // 100 ms buffers, twice as fast as the speaker.
        let chunk = Int(format.sampleRate) / 10 * Int(format.channels)
        for start in stride(from: 0, to: pcm.count, by: chunk) {
            try live.push(pcm[start..<min(start + chunk, pcm.count)].map { Float($0) / 32768 })
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(abs(live.audioSecs - 11.0) < 0.01)
        let result = try await live.finish()
        let events = try await reading.value
        let whilePushing = events.filter { $0.pushedSecs < 10.95 }.count
        print(
            "live: \(events.count) events (\(whilePushing) while pushing) in",
            "\(ContinuousClock.now - started), finish \(result.timings.finishSecs) s")

        // Confirmed text never changes: joined, it is the transcript.
        var confirmed = ""
        for (_, event) in events.dropLast() {
            switch event {
            case .confirmed(let text, let start, let end):
                #expect(start <= end && end <= 11.5, "\(text) at \(start)-\(end)")
                confirmed += text
            case .partial: break  // replaced by the next one; may still change
            case .refined(let transcript, let text): #expect(!transcript.isEmpty && !text.isEmpty)
            case .final: Issue.record("a result before the last event")
            }
        }
        #expect(events.last.map { $0.event } == .final(result: result), "the result comes last")
        #expect(confirmed.trimmingCharacters(in: .whitespaces) == result.transcript)
        #expect(result.transcript.contains("ask not what your country"), "\(result.transcript)")
        #expect(words(result.transcript) == words(golden))
        #expect(!result.text.isEmpty && result.speechModel == "fixture-whisper")
        #expect(abs(result.audioSecs - 11.0) < 0.01)
        #expect(result.timings.finishSecs > 0 && result.timings.finishSecs < result.timings.totalSecs)
        // Finished: no more audio, no second result.
        #expect(throws: MurmurError.self) { try live.push([Int16](repeating: 0, count: 1600)) }
        await #expect(throws: MurmurError.self) { try await live.finish() }
    }

    @Test func cancellingALiveTranscriptionEndsItsEventsWithCancellationError() async throws {
        let (pcm, format) = try wavSamples(jfk)
        let live = try await shared.liveTranscription(LiveOptions(dictate: dictation(), format: format))
        let reading = Task { for try await _ in live.events {} }
        try live.push(Array(pcm[0..<Int(format.sampleRate)]))
        live.cancel()
        await #expect(throws: CancellationError.self) { try await reading.value }
        #expect(throws: CancellationError.self) { try live.push(Array(pcm[0..<1600])) }
        await #expect(throws: CancellationError.self) { try await live.finish() }

        // Cancelling the task that reads the events cancels the session.
        let second = try await shared.liveTranscription(LiveOptions(dictate: dictation(), format: format))
        let consumer = Task { for try await _ in second.events {} }
        try second.push(Array(pcm[0..<Int(format.sampleRate)]))
        consumer.cancel()
        await #expect(throws: CancellationError.self) { try await consumer.value }
        #expect(try await eventually { (try? second.push([Int16](repeating: 0, count: 160))) == nil })
        await #expect(throws: CancellationError.self) { try await second.finish() }

        // So does cancelling the task that waits for the result.
        let third = try await shared.liveTranscription(LiveOptions(dictate: dictation(), format: format))
        try third.push(Array(pcm[0..<Int(format.sampleRate)]))
        let finishing = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await third.finish()
        }
        await #expect(throws: CancellationError.self) { try await finishing.value }
        #expect(try await eventually { !shared.status.inUse })
    }

    @Test func aBadLiveFormatIsATypedError() async throws {
        do {
            _ = try await shared.liveTranscription(
                LiveOptions(dictate: dictation(), format: PcmFormat(sampleRate: 0, channels: 1)))
            Issue.record("a session at 0 Hz started")
        } catch MurmurError.invalidArgument(let name, let reason) {
            #expect(name == "format")
            #expect(!reason.isEmpty)
        }
        await #expect(throws: MurmurError.invalidArgument(name: "step_ms", reason: "50 ms is not within 100..=10000")) {
            try await shared.liveTranscription(LiveOptions(dictate: dictation(), stepMs: 50))
        }
        var unknown = dictation()
        unknown.speechModel = "no-such-model"
        await #expect(throws: MurmurError.unknownModel(id: "no-such-model")) {
            try await shared.liveTranscription(LiveOptions(dictate: unknown))
        }
    }

    // MARK: Vocabulary

    @Test func vocabularyRoundTrip() throws {
        let dir = makeDirectory()
        let engine = try makeEngine(dir: dir)
        #expect(try engine.vocabulary() == Vocabulary(terms: [], replacements: []))
        #expect(try engine.addVocabularyTerm("Dashwood") == .added)
        #expect(try engine.addVocabularyTerm("Dashwood") == .unchanged)
        #expect(try engine.addVocabularyTerm("DashWood") == .updated)
        let app = Replacement(spoken: "murmur dot app", written: "Murmur.app")
        #expect(try engine.addVocabularyReplacement(spoken: app.spoken, written: app.written) == .added)
        #expect(try engine.vocabulary() == Vocabulary(terms: ["DashWood"], replacements: [app]))

        // A CSV file: all of it, or none of it on an error naming the line.
        let csv = dir.appendingPathComponent("words.csv")
        try Data("# my words\nmacOS\ndashwood\n\"eff why eye\",FYI\n".utf8).write(to: csv)
        let imported = try engine.importVocabulary(from: csv)
        #expect(imported == Imported(termsAdded: 1, replacementsAdded: 1, updated: 1, unchanged: 0))
        let bad = dir.appendingPathComponent("bad.csv")
        try Data("Xcode\na,b,c\n".utf8).write(to: bad)
        do {
            try engine.importVocabulary(from: bad)
            Issue.record("a row of three fields was imported")
        } catch MurmurError.invalidArgument(let name, let reason) {
            #expect(name == bad.path)
            #expect(reason.hasPrefix("line 2:"), "\(reason)")
        }
        let fyi = Replacement(spoken: "eff why eye", written: "FYI")
        let expected = Vocabulary(terms: ["dashwood", "macOS"], replacements: [app, fyi])
        #expect(try engine.vocabulary() == expected)

        // Another engine on the same settings folder sees the same vocabulary.
        #expect(try makeEngine(dir: dir).vocabulary() == expected)

        // A replacement is removed by either of its forms.
        #expect(try engine.removeVocabulary("murmur.APP") == Removed(terms: [], replacements: [app]))
        #expect(try engine.removeVocabulary("DASHWOOD") == Removed(terms: ["dashwood"], replacements: []))
        #expect(throws: MurmurError.self) { try engine.removeVocabulary("Dashwood") }
        #expect(try engine.vocabulary() == Vocabulary(terms: ["macOS"], replacements: [fyi]))
        #expect(throws: MurmurError.self) { try engine.addVocabularyTerm("   ") }
    }

    @Test func theVocabularyReachesTheDictation() async throws {
        let engine = try makeEngine()
        try engine.addVocabularyReplacement(spoken: "fellow Americans", written: "fellow Earthlings")
        let result = try await engine.dictate(contentsOf: jfk, options: dictation(refine: false))
        // (Whisper's prompt holds the vocabulary's words, which may change its punctuation.)
        #expect(result.transcript.contains("fellow Americans"))
        #expect(result.text.contains("fellow Earthlings"))
        #expect(!result.text.contains("Americans"))
        #expect(result.edits.contains { $0.kind == .replace && $0.after.hasPrefix("Earthlings") })
        #expect(result.textModel == nil && result.refineStats == nil && result.timings.refineSecs == 0)
        // Without the vocabulary the text is the transcript.
        let plain = try await engine.dictate(
            contentsOf: jfk, options: dictation(refine: false, vocabulary: false))
        #expect(plain.text == plain.transcript && plain.edits.isEmpty)
        try await engine.unload()
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
