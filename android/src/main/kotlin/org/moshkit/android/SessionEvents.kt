// SPDX-License-Identifier: MIT OR Apache-2.0
package org.moshkit.android

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.receiveAsFlow
import org.moshkit.CloseReason
import org.moshkit.ConnectionState
import org.moshkit.MoshSession
import org.moshkit.PredictionMode
import org.moshkit.SessionListener

/** What a [MoshSession] reports, as values for a coroutine to collect. */
sealed interface SessionEvent {
    /** The screen changed: call [MoshSession.pullChanges]. */
    data object ScreenChanged : SessionEvent
    /** The connection state changed. */
    data class State(val state: ConnectionState) : SessionEvent
    /** The bell rang. */
    data object Bell : SessionEvent
    /** The window title changed. */
    data class Title(val title: String) : SessionEvent
    /** The remote application set the clipboard (OSC 52). */
    data class Clipboard(val text: String) : SessionEvent
    /** The session is over; the flow ends after this event. */
    data class Closed(val reason: CloseReason) : SessionEvent

    /** A restored session is in step with the server again (input flows from now on). */
    data class Resumed(val serverHadNewerInput: Boolean) : SessionEvent

    /** The scrollback now holds lines `first until end`: read them with [MoshSession.scrollbackLines]. */
    data class ScrollbackChanged(val first: ULong, val end: ULong) : SessionEvent

    /** A [MoshSession.requestScrollback] of `from until to` completed. */
    data class ScrollbackFetched(val from: ULong, val to: ULong) : SessionEvent
}

/**
 * A [SessionListener] that turns the callbacks (made on MoshKit's runtime thread) into a
 * [Flow] of [SessionEvent]s, for one collector, e.g. in a `viewModelScope`:
 *
 * ```
 * val events = SessionEvents()
 * val session = MoshSession.connect(host, port, key, cols, rows, PredictionMode.ADAPTIVE, events)
 * viewModelScope.launch {
 *     events.flow.collect { e ->
 *         when (e) {
 *             SessionEvent.ScreenChanged -> render(session.pullChanges())
 *             is SessionEvent.Closed -> showClosed(e.reason)
 *             else -> {}
 *         }
 *     }
 * }
 * ```
 * The callbacks never block: events are buffered (screen changes are already coalesced by
 * MoshKit: at most one is pending until the app pulls).
 */
class SessionEvents : SessionListener {
    private val channel = Channel<SessionEvent>(Channel.UNLIMITED)

    /** The events, ending after [SessionEvent.Closed]. Collect it once. */
    val flow: Flow<SessionEvent> = channel.receiveAsFlow()

    override fun onScreenChanged() { channel.trySend(SessionEvent.ScreenChanged) }
    override fun onConnectionState(state: ConnectionState) { channel.trySend(SessionEvent.State(state)) }
    override fun onBell() { channel.trySend(SessionEvent.Bell) }
    override fun onTitle(title: String) { channel.trySend(SessionEvent.Title(title)) }
    override fun onClipboard(text: String) { channel.trySend(SessionEvent.Clipboard(text)) }
    override fun onResumed(serverHadNewerInput: Boolean) {
        channel.trySend(SessionEvent.Resumed(serverHadNewerInput))
    }
    override fun onScrollbackChanged(first: ULong, end: ULong) {
        channel.trySend(SessionEvent.ScrollbackChanged(first, end))
    }
    override fun onScrollbackFetched(from: ULong, to: ULong) {
        channel.trySend(SessionEvent.ScrollbackFetched(from, to))
    }
    override fun onClosed(reason: CloseReason) {
        channel.trySend(SessionEvent.Closed(reason))
        channel.close()
    }

    companion object {
        /**
         * [MoshSession.connect] with a fresh [SessionEvents] as the listener (`scrollbackLines`:
         * lines kept, 0 for none).
         */
        fun connect(
            host: String,
            port: Int,
            key: String,
            cols: Int,
            rows: Int,
            prediction: PredictionMode = PredictionMode.ADAPTIVE,
            scrollbackLines: Int = 10_000,
        ): Pair<MoshSession, Flow<SessionEvent>> {
            require(scrollbackLines >= 0) { "scrollbackLines $scrollbackLines" }
            val events = SessionEvents()
            val session = MoshSession.connect(
                host, port.toUShort(), key, cols.toUShort(), rows.toUShort(), prediction, events,
                scrollbackLines.toUInt(),
            )
            return session to events.flow
        }

        /**
         * [MoshSession.restore] with a fresh [SessionEvents] as the listener: bring back the
         * session saved with [MoshSession.saveState] after the app was killed. Keep the saved
         * bytes in Android Keystore-encrypted storage (they hold the session key).
         */
        fun restore(savedState: ByteArray): Pair<MoshSession, Flow<SessionEvent>> {
            val events = SessionEvents()
            val session = MoshSession.restore(savedState, events)
            return session to events.flow
        }
    }
}
