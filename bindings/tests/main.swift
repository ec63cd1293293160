// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Checks the generated Swift bindings (bindings/swift, module MoshKit) against the real
// libmoshkit. Compiled together with MoshKit.swift and run by scripts/swift-check.sh (from
// scripts/test-bindings.sh); a failed precondition exits non-zero.
import Foundation

var checks = 0
@MainActor func expect(_ cond: Bool, _ what: @autoclosure () -> String) {
    checks += 1
    precondition(cond, what())
}

func hex(_ d: Data) -> String { d.map { String(format: "%02x", $0) }.joined(separator: " ") }

final class RecordingSink: LogSink, @unchecked Sendable {
    private let lock = NSLock()
    private var _records: [(LogLevel, String, String)] = []
    var records: [(LogLevel, String, String)] { lock.lock(); defer { lock.unlock() }; return _records }
    func log(level: LogLevel, target: String, message: String) {
        lock.lock(); defer { lock.unlock() }
        _records.append((level, target, message))
    }
}

// Version
let version = moshkitVersion()
expect(version.split(separator: ".").count >= 3, "version \(version)")
print("moshkit \(version)")

// Session key from `MOSH CONNECT <port> <key>`
do {
    try validateSessionKey(key: "4NeCCgvZFe2RnPgrcU1PQw")
    checks += 1
} catch {
    preconditionFailure("good key rejected: \(error)")
}
do {
    try validateSessionKey(key: "4NeCCgvZFe2RnPgrcU1PQw==")
    preconditionFailure("padded key accepted")
} catch MoshKitError.InvalidKey(let reason) {
    expect(reason.contains("padding"), reason)
    print("  bad key: \(reason)")
} catch {
    preconditionFailure("wrong error \(error)")
}
do {
    try validateSessionKey(key: "short")
    preconditionFailure("short key accepted")
} catch MoshKitError.InvalidKey(let reason) {
    expect(reason.contains("22 characters"), reason)
    expect(!reason.contains("short"), "the key leaked into the message")
} catch {
    preconditionFailure("wrong error \(error)")
}

// Prediction modes
for (name, mode) in [("adaptive", PredictionMode.adaptive), ("always", .always),
                     ("never", .never), ("experimental", .experimental)] {
    expect((try? parsePredictionMode(s: name)) == mode, name)
}
do {
    _ = try parsePredictionMode(s: "sometimes")
    preconditionFailure("unknown mode accepted")
} catch MoshKitError.InvalidPredictionMode(let reason) {
    expect(reason.contains("sometimes"), reason)
} catch {
    preconditionFailure("wrong error \(error)")
}

// Key encoding
let none = Modifiers()
let ctrl = Modifiers(ctrl: true)
let cases: [(NamedKey, Modifiers, [UInt8])] = [
    (.char(codepoint: UnicodeScalar("a").value), none, [0x61]),
    (.char(codepoint: UnicodeScalar("c").value), ctrl, [0x03]),
    (.char(codepoint: UnicodeScalar("x").value), Modifiers(alt: true), [0x1b, 0x78]),
    (.char(codepoint: "😀".unicodeScalars.first!.value), none, Array("😀".utf8)),
    (.enter, none, [0x0d]),
    (.backspace, none, [0x7f]),
    (.up, none, [0x1b, 0x4f, 0x41]),
    (.right, ctrl, Array("\u{1b}[1;5C".utf8)),
    (.tab, Modifiers(shift: true), Array("\u{1b}[Z".utf8)),
    (.pageDown, none, Array("\u{1b}[6~".utf8)),
    (.function(number: 5), none, Array("\u{1b}[15~".utf8)),
    (.function(number: 0), none, []),
    (.char(codepoint: 0xD800), none, []),
]
for (key, mods, want) in cases {
    let got = encodeKey(key: key, mods: mods)
    print("  \(key) -> \(hex(got))")
    expect(got == Data(want), "\(key): got \(hex(got)), want \(hex(Data(want)))")
}

// Log sink: records are routed to Swift up to the maximum level, then removed.
let sink = RecordingSink()
try! setLogSink(sink: sink, maxLevel: .debug)
_ = try? validateSessionKey(key: "bad")
expect(sink.records.contains { $0.0 == .info && $0.2.hasPrefix("log sink installed") },
       "no install record: \(sink.records)")
expect(sink.records.contains { $0.0 == .debug && $0.1 == "moshkit::ffi" && $0.2.contains("session key rejected") },
       "no key rejection record: \(sink.records)")
try! setLogSink(sink: sink, maxLevel: .warn)
let before = sink.records.count
_ = try? validateSessionKey(key: "bad")
expect(sink.records.count == before, "debug record not filtered: \(sink.records)")
clearLogSink()
try! setLogSink(sink: RecordingSink(), maxLevel: .trace)
clearLogSink()
expect(sink.records.count == before, "record after the sink was replaced")

print("swift: \(checks) checks passed")
