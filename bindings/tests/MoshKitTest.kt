// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Checks the generated Kotlin bindings (bindings/kotlin, package org.moshkit) against the real
// libmoshkit on the JVM through JNA. Run by scripts/test-bindings.sh; a failed check() throws,
// which exits non-zero.
import android.util.Log
import org.moshkit.*
import org.moshkit.android.LogcatSink
import java.util.Collections

fun bytes(vararg b: Int) = ByteArray(b.size) { b[it].toByte() }

fun hex(b: ByteArray) = b.joinToString(" ") { "%02x".format(it) }

class RecordingSink : LogSink {
    val records: MutableList<Triple<LogLevel, String, String>> =
        Collections.synchronizedList(mutableListOf())

    override fun log(level: LogLevel, target: String, message: String) {
        records.add(Triple(level, target, message))
    }
}

fun main() {
    var checks = 0
    fun expect(cond: Boolean, what: () -> String) {
        checks++
        check(cond, what)
    }

    // Version
    val version = moshkitVersion()
    expect(Regex("""\d+\.\d+\.\d+.*""").matches(version)) { "version $version" }
    println("moshkit $version")

    // Session key from `MOSH CONNECT <port> <key>`
    validateSessionKey("4NeCCgvZFe2RnPgrcU1PQw")
    checks++
    try {
        validateSessionKey("4NeCCgvZFe2RnPgrcU1PQw==")
        error("padded key accepted")
    } catch (e: MoshKitException.InvalidKey) {
        expect("padding" in e.reason) { e.reason }
        println("  bad key: ${e.reason}")
    }
    try {
        validateSessionKey("short")
        error("short key accepted")
    } catch (e: MoshKitException) {
        expect(e is MoshKitException.InvalidKey) { "wrong error $e" }
        expect("22 characters" in (e as MoshKitException.InvalidKey).reason) { e.reason }
        expect("short" !in e.reason) { "the key leaked into the message" }
    }

    // Prediction modes
    expect(parsePredictionMode("adaptive") == PredictionMode.ADAPTIVE) { "adaptive" }
    expect(parsePredictionMode("always") == PredictionMode.ALWAYS) { "always" }
    expect(parsePredictionMode("never") == PredictionMode.NEVER) { "never" }
    expect(parsePredictionMode("experimental") == PredictionMode.EXPERIMENTAL) { "experimental" }
    try {
        parsePredictionMode("sometimes")
        error("unknown mode accepted")
    } catch (e: MoshKitException.InvalidPredictionMode) {
        expect("sometimes" in e.reason) { e.reason }
    }

    // Key encoding
    val none = Modifiers()
    val ctrl = Modifiers(ctrl = true)
    val cases = listOf(
        Triple(NamedKey.Char('a'.code.toUInt()), none, bytes(0x61)),
        Triple(NamedKey.Char('c'.code.toUInt()), ctrl, bytes(0x03)),
        Triple(NamedKey.Char('x'.code.toUInt()), Modifiers(alt = true), bytes(0x1b, 0x78)),
        Triple(NamedKey.Char("😀".codePointAt(0).toUInt()), none, "😀".toByteArray()),
        Triple(NamedKey.Enter, none, bytes(0x0d)),
        Triple(NamedKey.Backspace, none, bytes(0x7f)),
        Triple(NamedKey.Up, none, bytes(0x1b, 'O'.code, 'A'.code)),
        Triple(NamedKey.Right, ctrl, "\u001b[1;5C".toByteArray()),
        Triple(NamedKey.Tab, Modifiers(shift = true), "\u001b[Z".toByteArray()),
        Triple(NamedKey.PageDown, none, "\u001b[6~".toByteArray()),
        Triple(NamedKey.Function(5u), none, "\u001b[15~".toByteArray()),
        Triple(NamedKey.Function(0u), none, bytes()),
        Triple(NamedKey.Char(0xD800u), none, bytes()),
    )
    for ((key, mods, want) in cases) {
        val got = encodeKey(key, mods)
        println("  $key $mods -> ${hex(got)}")
        expect(got.contentEquals(want)) { "$key $mods: got ${hex(got)}, want ${hex(want)}" }
    }

    // Log sink: records are routed to Kotlin up to the maximum level, then removed.
    val sink = RecordingSink()
    setLogSink(sink, LogLevel.DEBUG)
    try { validateSessionKey("bad") } catch (_: MoshKitException) {}
    expect(sink.records.any { it.first == LogLevel.INFO && it.third.startsWith("log sink installed") }) {
        "no install record: ${sink.records}"
    }
    expect(sink.records.any {
        it.first == LogLevel.DEBUG && it.second == "moshkit::ffi" && "session key rejected" in it.third
    }) { "no key rejection record: ${sink.records}" }
    setLogSink(sink, LogLevel.WARN)
    val before = sink.records.size
    try { validateSessionKey("bad") } catch (_: MoshKitException) {}
    expect(sink.records.size == before) { "debug record not filtered: ${sink.records}" }
    clearLogSink()
    setLogSink(RecordingSink(), LogLevel.TRACE)
    clearLogSink()
    expect(sink.records.size == before) { "record after the sink was replaced" }

    // The Android helper (android/src/main/kotlin) forwards to logcat (a stub here).
    LogcatSink.install(LogLevel.DEBUG, tag = "MoshKitTest")
    try { validateSessionKey("bad") } catch (_: MoshKitException) {}
    clearLogSink()
    expect(Log.lines.contains(Triple(Log.INFO, "MoshKitTest", "moshkit::ffi: log sink installed (max level Debug)"))) {
        "logcat: ${Log.lines}"
    }
    expect(Log.lines.any { it.first == Log.DEBUG && "session key rejected" in it.third }) {
        "logcat: ${Log.lines}"
    }

    println("kotlin: $checks checks passed")
}
