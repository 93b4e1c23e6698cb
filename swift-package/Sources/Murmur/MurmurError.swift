// Murmur's errors in Swift's spelling. The engine's error enum is generated
// (MurmurBindings.MurmurError, one definition in Rust) with uniffi's UpperCamelCase cases; this enum is the same cases
// in lowerCamelCase, converted both ways by exhaustive switches, so a case added in Rust
// fails this build until it is added here. Messages are the engine's own (Rust's Display).

import Foundation
import MurmurBindings

/// The generated error this file converts.
typealias FfiError = MurmurBindings.MurmurError

/// Everything that can go wrong, with the data a caller needs to react. `print(error)`
/// and `localizedDescription` give the engine's message.
public enum MurmurError: Error, Equatable, Hashable, Sendable {
    /// A file could not be read or written.
    case io(path: String, message: String)
    /// A model file is not what its format promises (truncated, wrong magic, missing keys).
    case corruptModel(path: String, reason: String)
    /// The model uses something Murmur does not implement.
    case unsupported(path: String, what: String)
    /// A setting or argument is outside its valid range; `name` is the setting.
    case invalidArgument(name: String, reason: String)
    /// A tokenizer could not be built or failed to encode/decode.
    case tokenizer(message: String)
    /// A chat template failed to compile or render.
    case template(reason: String)
    /// The prompt does not fit the model's context window.
    case promptTooLong(tokens: UInt64, limit: UInt64)
    /// MLX reported a failure (out of memory, shape mismatch, kernel error).
    case mlx(message: String)
    /// Downloading `file` of `repo` failed (network after retries, size or hash mismatch).
    case download(repo: String, file: String, reason: String)
    /// The Hub refused access: a gated or private repository and no (valid) token.
    case unauthorized(repo: String)
    /// The repository, revision or file (`file` empty for the repository) does not exist.
    case notFound(repo: String, file: String)
    /// Not enough free disk space for a download.
    case insufficientDisk(needed: UInt64, available: UInt64)
    /// Audio could not be used; `path` is `nil` for audio passed in memory.
    case audio(path: String?, reason: String)
    /// Cancelled through the engine (a download cancelled by `cancelDownload`); a cancelled Swift task throws `CancellationError` instead.
    case cancelled
    /// The model is downloading, loading or in use (`state` says which).
    case busy(model: String, state: String)
    /// The model has to be downloaded first.
    case notDownloaded(model: String)
    /// No model has this id, alias, repository or path.
    case unknownModel(id: String)
    /// Offline mode (`HF_HUB_OFFLINE`) and the model is not complete in the cache.
    case offline(repo: String)
    /// A background task died (a panic, a runtime shutting down); `what` names it.
    case `internal`(what: String, reason: String)
    /// The audio is longer than this machine's dictation limit (`Engine.limits()`): refused before any work.
    case audioTooLong(seconds: UInt32, limitSecs: UInt32)

    init(_ error: FfiError) {
        switch error {
        case .Io(let path, let message): self = .io(path: path, message: message)
        case .CorruptModel(let path, let reason): self = .corruptModel(path: path, reason: reason)
        case .Unsupported(let path, let what): self = .unsupported(path: path, what: what)
        case .InvalidArgument(let name, let reason): self = .invalidArgument(name: name, reason: reason)
        case .Tokenizer(let message): self = .tokenizer(message: message)
        case .Template(let reason): self = .template(reason: reason)
        case .PromptTooLong(let tokens, let limit): self = .promptTooLong(tokens: tokens, limit: limit)
        case .Mlx(let message): self = .mlx(message: message)
        case .Download(let repo, let file, let reason): self = .download(repo: repo, file: file, reason: reason)
        case .Unauthorized(let repo): self = .unauthorized(repo: repo)
        case .NotFound(let repo, let file): self = .notFound(repo: repo, file: file)
        case .InsufficientDisk(let needed, let available): self = .insufficientDisk(needed: needed, available: available)
        case .Audio(let path, let reason): self = .audio(path: path, reason: reason)
        case .Cancelled: self = .cancelled
        case .Busy(let model, let state): self = .busy(model: model, state: state)
        case .NotDownloaded(let model): self = .notDownloaded(model: model)
        case .UnknownModel(let id): self = .unknownModel(id: id)
        case .Offline(let repo): self = .offline(repo: repo)
        case .Internal(let what, let reason): self = .`internal`(what: what, reason: reason)
        case .AudioTooLong(let seconds, let limitSecs): self = .audioTooLong(seconds: seconds, limitSecs: limitSecs)
        }
    }

    /// The generated value, whose `description` is the engine's message.
    private var ffi: FfiError {
        switch self {
        case .io(let path, let message): .Io(path: path, message: message)
        case .corruptModel(let path, let reason): .CorruptModel(path: path, reason: reason)
        case .unsupported(let path, let what): .Unsupported(path: path, what: what)
        case .invalidArgument(let name, let reason): .InvalidArgument(name: name, reason: reason)
        case .tokenizer(let message): .Tokenizer(message: message)
        case .template(let reason): .Template(reason: reason)
        case .promptTooLong(let tokens, let limit): .PromptTooLong(tokens: tokens, limit: limit)
        case .mlx(let message): .Mlx(message: message)
        case .download(let repo, let file, let reason): .Download(repo: repo, file: file, reason: reason)
        case .unauthorized(let repo): .Unauthorized(repo: repo)
        case .notFound(let repo, let file): .NotFound(repo: repo, file: file)
        case .insufficientDisk(let needed, let available): .InsufficientDisk(needed: needed, available: available)
        case .audio(let path, let reason): .Audio(path: path, reason: reason)
        case .cancelled: .Cancelled
        case .busy(let model, let state): .Busy(model: model, state: state)
        case .notDownloaded(let model): .NotDownloaded(model: model)
        case .unknownModel(let id): .UnknownModel(id: id)
        case .offline(let repo): .Offline(repo: repo)
        case .`internal`(let what, let reason): .Internal(what: what, reason: reason)
        case .audioTooLong(let seconds, let limitSecs): .AudioTooLong(seconds: seconds, limitSecs: limitSecs)
        }
    }
}

extension MurmurError: CustomStringConvertible, LocalizedError {
    public var description: String { ffi.description }
    public var errorDescription: String? { description }
}

/// Runs `call`, giving its engine errors their Swift spelling.
func translatingErrors<T>(_ call: () async throws -> T) async throws -> T {
    do {
        return try await call()
    } catch let error as FfiError {
        throw MurmurError(error)
    }
}

/// The same, for calls that do not suspend.
func translatingErrors<T>(_ call: () throws -> T) throws -> T {
    do {
        return try call()
    } catch let error as FfiError {
        throw MurmurError(error)
    }
}
