// SPDX-License-Identifier: MIT OR Apache-2.0
//
// A thin Swift-concurrency layer over the generated MoshKit API: a session's listener callbacks
// (made on MoshKit's runtime thread) as an AsyncStream.

/// What a `MoshSession` reports.
public enum SessionEvent: Sendable, Equatable {
    /// The screen changed: call `pullChanges()`.
    case screenChanged
    /// The connection state changed.
    case state(ConnectionState)
    /// The bell rang.
    case bell
    /// The window title changed.
    case title(String)
    /// The remote application set the clipboard (OSC 52).
    case clipboard(String)
    /// A restored session is in step with the server again (input flows from now on).
    case resumed(serverHadNewerInput: Bool)
    /// The scrollback now holds lines `first..<end`: read them with `scrollbackLines(from:count:)`.
    case scrollbackChanged(first: UInt64, end: UInt64)
    /// A `requestScrollback(from:to:)` completed.
    case scrollbackFetched(from: UInt64, to: UInt64)
    /// The session is over; the stream finishes after this event.
    case closed(CloseReason)
}

/// A `SessionListener` whose events arrive as an `AsyncStream`, for one consumer:
///
/// ```swift
/// let events = SessionEvents()
/// let session = try MoshSession.connect(host: host, port: port, key: key, cols: 80, rows: 24,
///                                       prediction: .adaptive, listener: events)
/// Task { @MainActor in
///     for await event in events.stream {
///         switch event {
///         case .screenChanged: render(session.pullChanges())
///         case .closed(let reason): ended(reason)
///         default: break
///         }
///     }
/// }
/// ```
/// Events are buffered without blocking MoshKit (screen changes are already coalesced: at most
/// one is pending until the app pulls).
public final class SessionEvents: SessionListener, @unchecked Sendable {
    /// The events, finishing after `.closed`.
    public let stream: AsyncStream<SessionEvent>
    private let continuation: AsyncStream<SessionEvent>.Continuation

    public init() {
        var captured: AsyncStream<SessionEvent>.Continuation?
        stream = AsyncStream { captured = $0 }
        continuation = captured!
    }

    public func onScreenChanged() { continuation.yield(.screenChanged) }
    public func onConnectionState(state: ConnectionState) { continuation.yield(.state(state)) }
    public func onBell() { continuation.yield(.bell) }
    public func onTitle(title: String) { continuation.yield(.title(title)) }
    public func onClipboard(text: String) { continuation.yield(.clipboard(text)) }
    public func onResumed(serverHadNewerInput: Bool) {
        continuation.yield(.resumed(serverHadNewerInput: serverHadNewerInput))
    }
    public func onScrollbackChanged(first: UInt64, end: UInt64) {
        continuation.yield(.scrollbackChanged(first: first, end: end))
    }
    public func onScrollbackFetched(from: UInt64, to: UInt64) {
        continuation.yield(.scrollbackFetched(from: from, to: to))
    }
    public func onClosed(reason: CloseReason) {
        continuation.yield(.closed(reason))
        continuation.finish()
    }
}
