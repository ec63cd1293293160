//! The notification bar: mosh's "Last contact N seconds ago" and friends (reference §9.3).
//!
//! [`Notifications`] keeps the link-state bookkeeping and produces the bar's content as data
//! ([`NotificationBar`]) so a native UI can show its own banner; the terminal-drawn form (white on
//! blue over row 0) is composed from the same data by the session.

use std::time::{Duration, Instant};

/// The server counts as late after this long without a new state from it.
pub const SERVER_LATE: Duration = Duration::from_millis(6500);
/// Replies count as late after this long without the server acknowledging our newest state.
pub const REPLY_LATE: Duration = Duration::from_millis(10_000);
/// Lifetime of an ordinary (non-permanent) message.
pub const MESSAGE_EXPIRY: Duration = Duration::from_millis(1000);
/// Lifetime of a network-error message (`ACK_INTERVAL + 100`).
pub const NETWORK_ERROR_EXPIRY: Duration = Duration::from_millis(3100);
/// How often the count-up text is refreshed.
pub const COUNTUP_REFRESH: Duration = Duration::from_millis(1000);
/// Refresh interval once the server has been silent for [`COUNTUP_SLOW_AFTER`] (saves power).
pub const COUNTUP_SLOW_REFRESH: Duration = Duration::from_millis(3000);
/// Silence after which the count-up refreshes slowly.
pub const COUNTUP_SLOW_AFTER: Duration = Duration::from_millis(60_000);

/// What the count-up measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// Nothing new heard from the server.
    Contact,
    /// The server heard us but has not acknowledged our newest state ("reply").
    Reply,
}

impl Silence {
    fn word(self) -> &'static str {
        match self {
            Silence::Contact => "contact",
            Silence::Reply => "reply",
        }
    }
}

/// The bar's content at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationBar {
    /// The current message, if any (e.g. `Timed out waiting for server...`).
    pub message: Option<String>,
    /// Whether the message is a network error.
    pub is_network_error: bool,
    /// The silence being counted, and for how long.
    pub countup: Option<(Silence, Duration)>,
    /// The full text upstream draws, e.g. `mosh: Last contact 19 seconds ago. [To quit: Ctrl-^ .]`.
    pub text: String,
}

#[derive(Debug, Clone)]
struct Message {
    text: String,
    is_network_error: bool,
    expires: Option<Instant>,
    show_quit: bool,
}

/// Link-state bookkeeping behind the notification bar.
#[derive(Debug, Clone)]
pub struct Notifications {
    last_word_from_server: Instant,
    last_acked_state: Instant,
    message: Option<Message>,
    quit_hint: String,
}

impl Notifications {
    /// Start at `now` (counts as having just heard from the server). `escape_key_name` is e.g.
    /// `Ctrl-^` for the quit hint, or `None` when the app has no escape key.
    pub fn new(now: Instant, escape_key_name: Option<&str>) -> Self {
        Notifications {
            last_word_from_server: now,
            last_acked_state: now,
            message: None,
            quit_hint: escape_key_name
                .map(|k| format!(" [To quit: {k} .]"))
                .unwrap_or_default(),
        }
    }

    /// A new state arrived from the server; `at` is when it was received.
    pub fn server_heard(&mut self, at: Instant) {
        self.last_word_from_server = at;
    }

    /// The server acknowledged a state of ours that we sent at `sent_at`.
    pub fn server_acked(&mut self, sent_at: Instant) {
        self.last_acked_state = sent_at;
    }

    /// Show `text`; permanent messages stay until replaced or cleared.
    pub fn set_message(&mut self, now: Instant, text: &str, permanent: bool, show_quit: bool) {
        self.message = Some(Message {
            text: text.to_owned(),
            is_network_error: false,
            expires: (!permanent).then_some(now + MESSAGE_EXPIRY),
            show_quit,
        });
    }

    /// Show a network error (expires after [`NETWORK_ERROR_EXPIRY`] unless renewed).
    pub fn set_network_error(&mut self, now: Instant, text: &str) {
        self.message = Some(Message {
            text: text.to_owned(),
            is_network_error: true,
            expires: Some(now + NETWORK_ERROR_EXPIRY),
            show_quit: true,
        });
    }

    /// Let a shown network error expire within [`MESSAGE_EXPIRY`].
    pub fn clear_network_error(&mut self, now: Instant) {
        if let Some(m) = self.message.as_mut().filter(|m| m.is_network_error) {
            let soon = now + MESSAGE_EXPIRY;
            m.expires = Some(m.expires.map_or(soon, |e| e.min(soon)));
        }
    }

    /// Remove any message.
    pub fn clear_message(&mut self) {
        self.message = None;
    }

    /// Drop an expired message (call once per frame).
    pub fn expire(&mut self, now: Instant) {
        if self
            .message
            .as_ref()
            .and_then(|m| m.expires)
            .is_some_and(|e| e <= now)
        {
            self.message = None;
        }
    }

    /// Whether the server is late (no new state for [`SERVER_LATE`]).
    pub fn server_late(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_word_from_server) > SERVER_LATE
    }

    /// Whether replies are late (our newest state unacknowledged for [`REPLY_LATE`]).
    pub fn reply_late(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_acked_state) > REPLY_LATE
    }

    fn countup(&self, now: Instant) -> Option<(Silence, Duration)> {
        let server_late = self.server_late(now);
        let reply_late = self.reply_late(now);
        if reply_late && !server_late {
            Some((
                Silence::Reply,
                now.saturating_duration_since(self.last_acked_state),
            ))
        } else if server_late || reply_late {
            Some((
                Silence::Contact,
                now.saturating_duration_since(self.last_word_from_server),
            ))
        } else {
            None
        }
    }

    /// The bar to show at `now`, or `None` when there is nothing to show. Call
    /// [`Notifications::expire`] first in a frame.
    pub fn bar(&self, now: Instant) -> Option<NotificationBar> {
        let countup = self.countup(now);
        let message = self.message.as_ref();
        let quit = match message {
            Some(m) if !m.show_quit => "",
            _ => self.quit_hint.as_str(),
        };
        let text = match (message, countup) {
            (None, None) => return None,
            (None, Some((what, d))) => {
                format!(
                    "mosh: Last {} {} ago.{quit}",
                    what.word(),
                    human_duration(d, "seconds")
                )
            }
            (Some(m), None) => format!("mosh: {}{quit}", m.text),
            (Some(m), Some((what, d))) => format!(
                "mosh: {} ({} without {}.){quit}",
                m.text,
                human_duration(d, "s"),
                what.word()
            ),
        };
        Some(NotificationBar {
            message: message.map(|m| m.text.clone()),
            is_network_error: message.is_some_and(|m| m.is_network_error),
            countup,
            text,
        })
    }

    /// How long until the bar's content may change by itself (message expiry or count-up tick).
    pub fn wait_time(&self, now: Instant) -> Option<Duration> {
        let expiry = self
            .message
            .as_ref()
            .and_then(|m| m.expires)
            .map(|e| e.saturating_duration_since(now));
        let countup = self.countup(now).map(|_| {
            if now.saturating_duration_since(self.last_word_from_server) > COUNTUP_SLOW_AFTER {
                COUNTUP_SLOW_REFRESH
            } else {
                COUNTUP_REFRESH
            }
        });
        match (expiry, countup) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Upstream's duration format: `<n> <unit>` under a minute, `M:SS` under an hour, else `H:MM:SS`.
fn human_duration(d: Duration, seconds_unit: &str) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s} {seconds_unit}")
    } else if s < 3600 {
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn silent_server_counts_up_after_threshold() {
        let t0 = Instant::now();
        let mut n = Notifications::new(t0, Some("Ctrl-^"));
        assert_eq!(n.bar(t0 + ms(6500)), None);
        let bar = n.bar(t0 + ms(19_400)).expect("late");
        assert_eq!(
            bar.text,
            "mosh: Last contact 19 seconds ago. [To quit: Ctrl-^ .]"
        );
        assert_eq!(bar.countup, Some((Silence::Contact, ms(19_400))));
        assert_eq!(n.wait_time(t0 + ms(19_400)), Some(COUNTUP_REFRESH));
        assert_eq!(n.wait_time(t0 + ms(61_000)), Some(COUNTUP_SLOW_REFRESH));
        assert_eq!(
            n.bar(t0 + ms(125_000)).map(|b| b.text),
            Some("mosh: Last contact 2:05 ago. [To quit: Ctrl-^ .]".into())
        );
        assert_eq!(
            n.bar(t0 + ms(3_725_000)).map(|b| b.text),
            Some("mosh: Last contact 1:02:05 ago. [To quit: Ctrl-^ .]".into())
        );
        // Contact again: the bar clears.
        n.server_heard(t0 + ms(130_000));
        n.server_acked(t0 + ms(129_900));
        assert_eq!(n.bar(t0 + ms(130_001)), None);
        assert_eq!(n.wait_time(t0 + ms(130_001)), None);
    }

    #[test]
    fn reply_late_without_server_late_says_reply() {
        let t0 = Instant::now();
        let mut n = Notifications::new(t0, None);
        n.server_heard(t0 + ms(10_500));
        let bar = n.bar(t0 + ms(11_000)).expect("reply late");
        assert_eq!(bar.text, "mosh: Last reply 11 seconds ago.");
    }

    #[test]
    fn messages_expire_and_combine_with_countup() {
        let t0 = Instant::now();
        let mut n = Notifications::new(t0, Some("Ctrl-^"));
        n.set_message(
            t0,
            "Nothing received from server on UDP port 60099.",
            false,
            true,
        );
        assert_eq!(
            n.bar(t0).map(|b| b.text),
            Some(
                "mosh: Nothing received from server on UDP port 60099. [To quit: Ctrl-^ .]".into()
            )
        );
        assert_eq!(n.wait_time(t0), Some(MESSAGE_EXPIRY));
        n.expire(t0 + MESSAGE_EXPIRY);
        assert_eq!(n.bar(t0 + MESSAGE_EXPIRY), None);

        n.set_message(
            t0 + ms(17_000),
            "Timed out waiting for server...",
            true,
            true,
        );
        n.expire(t0 + ms(17_900));
        assert_eq!(
            n.bar(t0 + ms(17_900)).map(|b| b.text),
            Some(
                "mosh: Timed out waiting for server... (17 s without contact.) [To quit: Ctrl-^ .]"
                    .into()
            )
        );
        n.set_message(t0, "Commands: ...", true, false);
        assert!(
            !n.bar(t0)
                .map(|b| b.text)
                .unwrap_or_default()
                .contains("quit")
        );
    }

    #[test]
    fn network_errors_expire_faster_once_cleared() {
        let t0 = Instant::now();
        let mut n = Notifications::new(t0, None);
        n.set_network_error(t0, "sendto: Network is unreachable");
        let bar = n.bar(t0).expect("error shown");
        assert!(bar.is_network_error);
        assert_eq!(n.wait_time(t0), Some(NETWORK_ERROR_EXPIRY));
        n.clear_network_error(t0 + ms(100));
        assert_eq!(n.wait_time(t0 + ms(100)), Some(MESSAGE_EXPIRY));
        n.expire(t0 + ms(1100));
        assert_eq!(n.bar(t0 + ms(1100)), None);
        // Clearing a network error leaves ordinary messages alone.
        n.set_message(t0, "hello", true, true);
        n.clear_network_error(t0);
        n.expire(t0 + ms(99_999));
        assert!(n.bar(t0).is_some());
    }
}
