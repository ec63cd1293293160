// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Checks the generated Swift bindings (bindings/swift, module MoshKit) against the real
// libmoshkit. Compiled together with MoshKit.swift and run by scripts/swift-check.sh (from
// scripts/test-bindings.sh); a failed precondition exits non-zero. The live session part needs an
// upstream mosh-server on loopback: MOSHKIT_TEST_HOST, MOSHKIT_TEST_PORT, MOSHKIT_TEST_KEY
// (scripts/with-mosh-server.sh sets them; the chroot shares the host's network namespace).
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

// Live session against the upstream mosh-server named by the environment.
final class Listener: SessionListener, @unchecked Sendable {
    let cond = NSCondition()
    private(set) var screenChanged = false
    private(set) var states: [ConnectionState] = []
    private(set) var closed: CloseReason?
    private(set) var resumes = 0
    private(set) var scrollbackChanges = 0
    private(set) var lastScrollbackChange = ScrollbackRange(first: 0, end: 0)
    func onScreenChanged() { cond.lock(); screenChanged = true; cond.broadcast(); cond.unlock() }
    func onConnectionState(state: ConnectionState) { cond.lock(); states.append(state); cond.broadcast(); cond.unlock() }
    func onBell() {}
    func onTitle(title: String) {}
    func onClipboard(text: String) {}
    func onResumed(serverHadNewerInput: Bool) { cond.lock(); resumes += 1; cond.broadcast(); cond.unlock() }
    func onScrollbackChanged(first: UInt64, end: UInt64) {
        cond.lock()
        scrollbackChanges += 1
        lastScrollbackChange = ScrollbackRange(first: first, end: end)
        cond.broadcast()
        cond.unlock()
    }
    func onScrollbackFetched(from: UInt64, to: UInt64) {}
    func onClosed(reason: CloseReason) { cond.lock(); closed = reason; cond.broadcast(); cond.unlock() }
    func resetScreenChanged() { cond.lock(); screenChanged = false; cond.unlock() }
    /// Waits (bounded) until `pred` holds; returns whether it did.
    func wait(seconds: Double, _ pred: (Listener) -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        cond.lock(); defer { cond.unlock() }
        while !pred(self) {
            if !cond.wait(until: deadline) { return pred(self) }
        }
        return true
    }
}

/// The number N of an output line "lineN" (trailing blanks trimmed), or nil.
func outputLine(_ text: String) -> Int? {
    var t = Substring(text)
    while t.hasSuffix(" ") { t.removeLast() }
    guard t.hasPrefix("line") else { return nil }
    let digits = t.dropFirst(4)
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return Int(digits)
}

/// nil when the scrollback's and the screen's texts (oldest first) hold the slow loop's output
/// in order: line1..lineK scrolled off (K >= 30), the rest up to line60 on screen; else what is
/// wrong.
func slowOutputProblem(_ scrollback: [String], _ screen: [String]) -> String? {
    let scrolled = scrollback.compactMap(outputLine)
    let shown = screen.compactMap(outputLine)
    if scrolled.count < 30 { return "only \(scrolled.count) output lines scrolled off: \(scrolled)" }
    if scrolled + shown != Array(1...60) { return "scrollback \(scrolled) + screen \(shown)" }
    return nil
}

let env = ProcessInfo.processInfo.environment
guard let host = env["MOSHKIT_TEST_HOST"], let portText = env["MOSHKIT_TEST_PORT"],
      let port = UInt16(portText), let key = env["MOSHKIT_TEST_KEY"] else {
    preconditionFailure("MOSHKIT_TEST_HOST/_PORT/_KEY not set")
}
let listener = Listener()
do {
    _ = try MoshSession.connect(host: host, port: port, key: "bad", cols: 80, rows: 24, prediction: .adaptive, listener: listener)
    preconditionFailure("bad key accepted")
} catch MoshKitError.InvalidKey {
    checks += 1
}
do {
    _ = try MoshSession.connect(host: host, port: port, key: key, cols: 0, rows: 24, prediction: .adaptive, listener: listener)
    preconditionFailure("0 columns accepted")
} catch MoshKitError.InvalidSize {
    checks += 1
}
// scrollbackLines 0 turns scrollback off (a session to the discard port: nothing answers).
do {
    let off = try! MoshSession.connect(host: "127.0.0.1", port: 9, key: "4NeCCgvZFe2RnPgrcU1PQw", cols: 80,
                                       rows: 24, prediction: .never, listener: SessionEvents(), scrollbackLines: 0)
    expect(off.scrollbackMode() == .off, "mode \(off.scrollbackMode())")
    do {
        try off.requestScrollback(from: 0, to: 10)
        preconditionFailure("request served with scrollback off")
    } catch MoshKitError.ScrollbackNotServed {
        checks += 1
    }
}
// Name resolution without blocking (async), then a connect that never blocks.
let resolved = try! await resolveHost(host: "localhost")
expect(resolved == "127.0.0.1", "localhost -> \(resolved)")
do {
    _ = try await resolveHost(host: "no-such-host.invalid")
    preconditionFailure("resolved an .invalid name")
} catch MoshKitError.ResolveFailed {
    checks += 1
}
let address = try! await resolveHost(host: host)
var session = try! MoshSession.connect(host: address, port: port, key: key, cols: 80, rows: 24,
                                       prediction: .adaptive, listener: listener)
var screen: [String] = []
var screenCols = 0
@MainActor func waitFor(_ needle: String) {
    let deadline = Date(timeIntervalSinceNow: 10)
    while true {
        listener.resetScreenChanged()
        let u = session.pullChanges()
        if u.full { screen = Array(repeating: "", count: Int(u.rows)); screenCols = Int(u.cols) }
        for r in u.changedRows { screen[Int(r.index)] = r.cells.map { $0.text }.joined() }
        if screen.contains(where: { $0.contains(needle) }) { break }
        precondition(Date() < deadline, "\"\(needle)\" not on screen: \(screen)")
        _ = listener.wait(seconds: 0.5) { $0.screenChanged }
    }
    checks += 1
}
let enter = encodeKey(key: .enter, mods: Modifiers())
waitFor("#")
expect(screenCols == 80 && screen.count == 24, "size \(screenCols)x\(screen.count)")
expect(listener.wait(seconds: 5) { $0.states.contains(.connected) }, "never connected")
try! session.sendInput(bytes: Data("echo mk-$((40+2))".utf8))
try! session.sendInput(bytes: enter)
waitFor("mk-42")

// Slow output on 80x24: what scrolls off is captured from the screens, in order.
expect(session.scrollbackMode() == .captured, "mode \(session.scrollbackMode())")
try! session.sendInput(bytes: Data("for i in $(seq 1 60); do echo line$i; sleep 0.05; done".utf8) + enter)
var problem: String? = "not checked"
let scrollbackDeadline = Date(timeIntervalSinceNow: 20)
while Date() < scrollbackDeadline {
    let range = session.scrollbackRange()
    let lines = session.scrollbackLines(from: range.first, count: UInt32.max)
    precondition(UInt64(lines.count) == range.end - range.first, "\(lines.count) lines in \(range)")
    precondition(lines.enumerated().allSatisfy { $0.element.index == range.first + UInt64($0.offset) && !$0.element.missing })
    let texts = lines.map { $0.cells.map { $0.text }.joined() }
    let shown = session.snapshot().changedRows.map { $0.cells.map { $0.text }.joined() }
    problem = slowOutputProblem(texts, shown)
    if problem == nil { break }
    try? await Task.sleep(nanoseconds: 100_000_000)
}
expect(problem == nil, "scrollback: \(problem ?? "")")
let scrollbackRange = session.scrollbackRange()
print("  scrollback: lines \(scrollbackRange.first)..\(scrollbackRange.end) captured")
expect(listener.wait(seconds: 5) { $0.lastScrollbackChange == scrollbackRange },
       "last onScrollbackChanged \(listener.lastScrollbackChange), range \(scrollbackRange)")
expect(session.scrollbackLines(from: scrollbackRange.end, count: 10).isEmpty, "lines past the end")
do {
    try session.requestScrollback(from: scrollbackRange.first, to: scrollbackRange.end)
    preconditionFailure("upstream mosh-server served scrollback")
} catch MoshKitError.ScrollbackNotServed {
    checks += 1
}
do {
    try session.requestScrollback(from: 5, to: 5)
    preconditionFailure("empty range accepted")
} catch MoshKitError.InvalidRange {
    checks += 1
}
try! session.resize(cols: 100, rows: 30)
try! session.sendInput(bytes: Data("stty size".utf8) + enter)
waitFor("30 100")
expect(screenCols == 100 && screen.count == 30, "size \(screenCols)x\(screen.count)")
for row in screen where !row.trimmingCharacters(in: .whitespaces).isEmpty { print("  |\(row)") }
try! session.pause()
try! session.paste(text: "echo sw-$((6*7))")
try! session.resume()
try! session.sendInput(bytes: enter)
waitFor("sw-42")
try! session.networkChanged()
let stats = session.stats()
expect(stats.datagramsReceived > 0 && stats.lastContactMs != nil, "\(stats)")

// The app is killed (the last reference dropped without disconnecting) and restored from its
// saved state, ten times, every third time from a stale state saved before the previous
// cycle's work: each restored session shows the server's current screen and runs a typed command.
var saved: [Data] = []
for cycle in 0..<10 {
    saved.append(session.saveState())
    expect(saved[cycle].count > 100, "saved \(saved[cycle].count) bytes")
    let during = "during\(cycle)-\((cycle + 20) * 2)"
    try! session.sendInput(bytes: Data("echo during\(cycle)-$((\(cycle + 20)*2))".utf8) + enter)
    waitFor(during)
    session = try! MoshSession.restore(savedState: saved[cycle % 3 == 2 ? cycle - 1 : cycle], listener: listener)
    screen = []
    waitFor(during)
    expect(listener.wait(seconds: 15) { $0.resumes == cycle + 1 }, "no onResumed after restore \(cycle)")
    let after = "after\(cycle)-\((cycle + 20) * 3)"
    try! session.sendInput(bytes: Data("echo after\(cycle)-$((\(cycle + 20)*3))".utf8) + enter)
    waitFor(after)
}
do {
    _ = try MoshSession.restore(savedState: Data("not saved".utf8), listener: listener)
    preconditionFailure("junk restored")
} catch MoshKitError.InvalidSavedState {
    checks += 1
}
try! session.disconnect()
expect(listener.wait(seconds: 15) { $0.closed != nil }, "no onClosed")
expect(listener.closed == .shutdownAcknowledged, "closed: \(String(describing: listener.closed))")
do {
    try session.sendInput(bytes: enter)
    preconditionFailure("input accepted after close")
} catch MoshKitError.Closed {
    checks += 1
}

// The AsyncStream helper (ios/Sources/MoshKit/SessionEvents.swift): events in order, the stream
// finishes after .closed.
let helper = SessionEvents()
helper.onConnectionState(state: .connected)
helper.onBell()
helper.onTitle(title: "t")
helper.onScreenChanged()
helper.onScrollbackChanged(first: 3, end: 7)
helper.onScrollbackFetched(from: 1, to: 2)
helper.onClosed(reason: .peerShutdown)
helper.onBell() // after the end: dropped
var streamed: [SessionEvent] = []
for await event in helper.stream { streamed.append(event) }
expect(streamed == [.state(.connected), .bell, .title("t"), .screenChanged,
                   .scrollbackChanged(first: 3, end: 7), .scrollbackFetched(from: 1, to: 2),
                   .closed(.peerShutdown)],
       "stream: \(streamed)")

print("swift: \(checks) checks passed")
