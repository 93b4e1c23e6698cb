// swift-tools-version:6.0
// Murmur for Swift: on-device refinement and transcription, in process.
//
// The Rust library comes in as the C module `MurmurFFI`:
// - Apple platforms: `MurmurFFI.xcframework` (static library + header + module map), built
//   on a Mac by `scripts/build-xcframework.sh`. A release replaces the path with
//   `.binaryTarget(name: "MurmurFFI", url: ..., checksum: ...)`.
// - Linux: a system library module over `libmurmur_ffi.so`; the folder holding it is
//   passed at build time (`swift build -Xlinker -L<dir>`, see scripts/test-bindings.sh),
//   never as `unsafeFlags`, so the package stays usable as a versioned dependency.
import PackageDescription

#if os(Linux)
let ffi: Target = .systemLibrary(name: "MurmurFFI", path: "Sources/MurmurFFI")
#else
let ffi: Target = .binaryTarget(name: "MurmurFFI", path: "MurmurFFI.xcframework")
#endif

let package = Package(
    name: "Murmur",
    platforms: [.macOS(.v14), .iOS(.v17)],
    products: [
        .library(name: "Murmur", targets: ["Murmur"])
    ],
    targets: [
        ffi,
        .target(
            name: "Murmur",
            dependencies: ["MurmurFFI"],
            linkerSettings: [
                .linkedLibrary("murmur_ffi", .when(platforms: [.linux])),
                // What the static Rust library (MLX on Metal) needs on Apple platforms.
                .linkedLibrary("c++", .when(platforms: [.macOS, .iOS])),
                .linkedFramework("Foundation", .when(platforms: [.macOS, .iOS])),
                .linkedFramework("Metal", .when(platforms: [.macOS, .iOS])),
                .linkedFramework("Accelerate", .when(platforms: [.macOS, .iOS])),
                .linkedFramework("Security", .when(platforms: [.macOS, .iOS])),
                .linkedFramework("SystemConfiguration", .when(platforms: [.macOS, .iOS])),
            ]
        ),
        .testTarget(name: "MurmurTests", dependencies: ["Murmur"]),
    ],
    swiftLanguageModes: [.v6]
)
