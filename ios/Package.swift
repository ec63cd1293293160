// swift-tools-version:5.9
// MoshKit for iOS: the uniffi-generated Swift API (module MoshKit) over the Rust static library,
// shipped as MoshKit.xcframework (device + simulator slices, with the MoshKitFFI C module).
// Build the framework first on macOS: ios/build-xcframework.sh
import PackageDescription

let package = Package(
    name: "MoshKit",
    platforms: [.iOS(.v13)],
    products: [
        .library(name: "MoshKit", targets: ["MoshKit"]),
    ],
    targets: [
        // libmoshkit.a + MoshKitFFI.h/module.modulemap for each slice.
        .binaryTarget(name: "MoshKitFFI", path: "MoshKit.xcframework"),
        // Sources/MoshKit/MoshKit.swift links to the checked-in ../bindings/swift/MoshKit.swift;
        // Sources/MoshKit/SessionEvents.swift is the hand-written AsyncStream listener.
        .target(name: "MoshKit", dependencies: ["MoshKitFFI"], path: "Sources/MoshKit"),
    ]
)
