// SPDX-License-Identifier: MIT OR Apache-2.0
//
// Checks the generated Kotlin bindings (bindings/kotlin, package org.moshkit) against the real
// libmoshkit on the JVM through JNA. Run by scripts/test-bindings.sh; a failed check() throws,
// which exits non-zero. The live session part needs an upstream mosh-server on loopback:
// MOSHKIT_TEST_HOST, MOSHKIT_TEST_PORT, MOSHKIT_TEST_KEY (scripts/with-mosh-server.sh sets them).
import android.util.Log
import org.moshkit.*
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.moshkit.android.LogcatSink
import org.moshkit.android.SessionEvent
import org.moshkit.android.SessionEvents
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

    checks += liveSession()
    println("kotlin: $checks checks passed")
}

/** The app's copy of the screen, kept up to date from pulled changes. */
class ScreenModel {
    var rows = mutableListOf<String>()
    var cols = 0
    fun apply(u: ScreenUpdate) {
        if (u.full) {
            rows = MutableList(u.rows.toInt()) { "" }
            cols = u.cols.toInt()
        }
        for (r in u.changedRows) rows[r.index.toInt()] = r.cells.joinToString("") { it.text }
    }
    fun contains(needle: String) = rows.any { needle in it }
}

/** The number N of an output line "lineN" (trailing blanks trimmed), or null. */
fun outputLine(text: String): Int? =
    Regex("""line(\d+)""").matchEntire(text.trimEnd())?.groupValues?.get(1)?.toInt()

/**
 * Whether the scrollback's and the screen's texts (oldest first) hold the output of the slow
 * loop in order: line1..lineK scrolled off (K >= 30), the rest up to line60 on screen. Null when
 * they do, else what is wrong.
 */
fun slowOutputProblem(scrollback: List<String>, screen: List<String>): String? {
    val scrolled = scrollback.mapNotNull(::outputLine)
    val shown = screen.mapNotNull(::outputLine)
    if (scrolled.size < 30) return "only ${scrolled.size} output lines scrolled off: $scrolled"
    if (scrolled + shown != (1..60).toList()) return "scrollback $scrolled + screen $shown"
    return null
}

/** A session against the upstream mosh-server named by the environment; returns its checks. */
fun liveSession(): Int {
    var checks = 0
    fun expect(cond: Boolean, what: () -> String) {
        checks++
        check(cond, what)
    }
    val host = System.getenv("MOSHKIT_TEST_HOST") ?: error("MOSHKIT_TEST_HOST not set")
    val port = System.getenv("MOSHKIT_TEST_PORT")?.toInt() ?: error("MOSHKIT_TEST_PORT not set")
    val key = System.getenv("MOSHKIT_TEST_KEY") ?: error("MOSHKIT_TEST_KEY not set")

    // Errors are exceptions (nothing reaches the network).
    val ignore = SessionEvents()
    try {
        MoshSession.connect(host, port.toUShort(), "bad", 80u, 24u, PredictionMode.ADAPTIVE, ignore)
        error("bad key accepted")
    } catch (e: MoshKitException.InvalidKey) { checks++ }
    try {
        MoshSession.connect("bad host!", port.toUShort(), key, 80u, 24u, PredictionMode.ADAPTIVE, ignore)
        error("bad host accepted")
    } catch (e: MoshKitException.InvalidAddress) { checks++ }
    // scrollbackLines 0 turns scrollback off (a session to the discard port: nothing answers).
    MoshSession.connect("127.0.0.1", 9u, "4NeCCgvZFe2RnPgrcU1PQw", 80u, 24u, PredictionMode.NEVER, ignore, 0u).use {
        expect(it.scrollbackMode() == ScrollbackMode.OFF) { "mode ${it.scrollbackMode()}" }
        try {
            it.requestScrollback(0u, 10u)
            error("request served with scrollback off")
        } catch (e: MoshKitException.ScrollbackNotServed) { checks++ }
    }

    // Name resolution without blocking (a suspend function), then a connect that never blocks.
    expect(runBlocking { resolveHost("localhost") } == "127.0.0.1") { "localhost" }
    try {
        runBlocking { resolveHost("no-such-host.invalid") }
        error("resolved an .invalid name")
    } catch (e: MoshKitException.ResolveFailed) { checks++ }
    val address = runBlocking { resolveHost(host) }
    val (session, events) = SessionEvents.connect(address, port, key, 80, 24)
    val screen = ScreenModel()
    val enter = encodeKey(NamedKey.Enter, Modifiers())
    runBlocking {
        val ticks = Channel<Unit>(Channel.CONFLATED)
        val states = Collections.synchronizedList(mutableListOf<ConnectionState>())
        var closed: CloseReason? = null
        val closedSignal = Channel<Unit>(Channel.CONFLATED)
        var lastScrollbackChange: Pair<ULong, ULong>? = null
        val collector = launch {
            events.collect { e ->
                when (e) {
                    SessionEvent.ScreenChanged -> ticks.trySend(Unit)
                    is SessionEvent.State -> states.add(e.state)
                    is SessionEvent.ScrollbackChanged -> lastScrollbackChange = e.first to e.end
                    is SessionEvent.Closed -> { closed = e.reason; closedSignal.trySend(Unit) }
                    else -> {}
                }
            }
        }
        // Pull on each "screen changed" until `needle` shows (bounded).
        suspend fun waitFor(needle: String) {
            try {
                withTimeout(10_000) {
                    while (true) {
                        screen.apply(session.pullChanges())
                        if (screen.contains(needle)) break
                        withTimeoutOrNull(500) { ticks.receive() }
                    }
                }
            } catch (e: kotlinx.coroutines.TimeoutCancellationException) {
                error("\"$needle\" not on screen: ${screen.rows}")
            }
            checks++
        }

        waitFor("#")
        expect(screen.cols == 80 && screen.rows.size == 24) { "size ${screen.cols}x${screen.rows.size}" }
        expect(ConnectionState.Connected in states) { "states $states" }
        expect(session.connectionState() == ConnectionState.Connected) { "${session.connectionState()}" }

        session.sendInput("echo mk-\$((40+2))".toByteArray())
        session.sendInput(enter)
        waitFor("mk-42")

        // Slow output on 80x24: what scrolls off is captured from the screens, in order.
        expect(session.scrollbackMode() == ScrollbackMode.CAPTURED) { "mode ${session.scrollbackMode()}" }
        session.sendInput("for i in \$(seq 1 60); do echo line\$i; sleep 0.05; done".toByteArray() + enter)
        var problem: String? = "not checked"
        withTimeoutOrNull(20_000) {
            while (true) {
                val range = session.scrollbackRange()
                val lines = session.scrollbackLines(range.first, UInt.MAX_VALUE)
                check(lines.size.toULong() == range.end - range.first) { "${lines.size} lines in $range" }
                check(lines.withIndex().all { (i, l) -> l.index == range.first + i.toULong() && !l.missing })
                val texts = lines.map { l -> l.cells.joinToString("") { it.text } }
                val shown = session.snapshot().changedRows.map { r -> r.cells.joinToString("") { it.text } }
                problem = slowOutputProblem(texts, shown)
                if (problem == null) break
                delay(100)
            }
        }
        expect(problem == null) { "scrollback: $problem" }
        val range = session.scrollbackRange()
        println("  scrollback: lines ${range.first}..${range.end} captured")
        withTimeoutOrNull(5_000) {
            while (lastScrollbackChange != range.first to range.end) delay(50)
        }
        expect(lastScrollbackChange == range.first to range.end) {
            "last onScrollbackChanged $lastScrollbackChange, range $range"
        }
        expect(session.scrollbackLines(range.end, 10u).isEmpty()) { "lines past the end" }
        try {
            session.requestScrollback(range.first, range.end)
            error("upstream mosh-server served scrollback")
        } catch (e: MoshKitException.ScrollbackNotServed) { checks++ }
        try {
            session.requestScrollback(5u, 5u)
            error("empty range accepted")
        } catch (e: MoshKitException.InvalidRange) { checks++ }

        session.resize(100u, 30u)
        session.sendInput("stty size".toByteArray() + enter)
        waitFor("30 100")
        expect(screen.cols == 100 && screen.rows.size == 30) { "size ${screen.cols}x${screen.rows.size}" }
        println(screen.rows.filter { it.isNotBlank() }.joinToString("\n") { "  |" + it.trimEnd() })

        session.pause()
        session.paste("echo kt-\$((6*7))")
        session.resume()
        session.sendInput(enter)
        waitFor("kt-42")
        session.networkChanged()

        val stats = session.stats()
        expect(stats.datagramsReceived > 0u && stats.lastContactMs != null) { "$stats" }
        val snap = session.snapshot()
        expect(snap.full && snap.changedRows.size == 30) { "snapshot ${snap.changedRows.size}" }

        // The app is killed (the object freed without disconnecting: nothing more is sent) and
        // restored from its saved state, ten times, every third time from a stale state saved
        // before the previous cycle's work. Each restored session shows the server's current screen
        // and runs a typed command. The first session's events end here.
        collector.cancel()
        suspend fun pollFor(s: MoshSession, needle: String) {
            try {
                withTimeout(15_000) {
                    while (true) {
                        screen.apply(s.pullChanges())
                        if (screen.contains(needle)) break
                        delay(50)
                    }
                }
            } catch (e: kotlinx.coroutines.TimeoutCancellationException) {
                error("\"$needle\" not on screen after restore: ${screen.rows}")
            }
            checks++
        }
        var live = session
        var liveEvents = SessionEvents()
        val saved = mutableListOf<ByteArray>()
        for (cycle in 0 until 10) {
            saved.add(live.saveState())
            expect(saved.last().size > 100) { "saved ${saved.last().size} bytes" }
            val during = "during$cycle-${(cycle + 20) * 2}"
            live.sendInput("echo during$cycle-\$((${cycle + 20}*2))".toByteArray() + enter)
            pollFor(live, during)
            live.close()
            liveEvents = SessionEvents()
            live = MoshSession.restore(saved[if (cycle % 3 == 2) cycle - 1 else cycle], liveEvents)
            screen.rows = mutableListOf()
            pollFor(live, during)
            val after = "after$cycle-${(cycle + 20) * 3}"
            live.sendInput("echo after$cycle-\$((${cycle + 20}*3))".toByteArray() + enter)
            pollFor(live, after)
        }
        try {
            MoshSession.restore("not saved".toByteArray(), SessionEvents())
            error("junk restored")
        } catch (e: MoshKitException.InvalidSavedState) { checks++ }

        val closing = launch {
            liveEvents.flow.collect { e -> if (e is SessionEvent.Closed) { closed = e.reason; closedSignal.trySend(Unit) } }
        }
        live.disconnect()
        withTimeout(15_000) { closedSignal.receive() }
        expect(closed == CloseReason.SHUTDOWN_ACKNOWLEDGED) { "closed: $closed" }
        expect(live.isClosed()) { "isClosed" }
        try {
            live.sendInput(enter)
            error("input accepted after close")
        } catch (e: MoshKitException.Closed) { checks++ }
        withTimeout(5_000) { closing.join() } // the flow ends after Closed
        live.close() // AutoCloseable: frees the Rust object
    }
    println("  live session: $checks checks")
    return checks
}
