// The README's example, compiled with the tests so that it cannot go stale (not run: it
// downloads a model from the Hub).

import Foundation
import Murmur

@Sendable func readmeSnippet() async throws {
    let engine = try Engine()                    // models live in the Hugging Face cache
    try await engine.download("qwen3-1.7b") { print("\(Int($0.fraction * 100))%") }

    let clean = try await engine.refine("um so i think we should uh meet tomorrow")
    print(clean.text)                            // "I think we should meet tomorrow."

    for try await token in engine.refineStream("their going too the store") { print(token, terminator: "") }

    let transcript = try await engine.transcribe(.file(URL(fileURLWithPath: "memo.m4a")))
    print(transcript.text)
}
