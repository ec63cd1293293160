//! The client's scrollback: captured from the screens it receives (any server), or kept in
//! step with a MoshKit server's own scrollback (exact), with the requests for missing lines.

use std::collections::VecDeque;
use std::ops::Range;

use super::{Scrollback, StoredLine, TopChange, detect_scroll};
use crate::session::HostState;
use crate::state::UserEvent;
use crate::terminal::Framebuffer;

/// Where the client's scrollback comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrollbackMode {
    /// Captured from the screens received (any server, e.g. upstream `mosh-server`): best
    /// effort, since SSP may skip screens during fast output; such places are marked
    /// [`super::ScrollbackLine::gap_before`].
    Captured,
    /// The MoshKit server's own scrollback: every line, some possibly
    /// [`super::ScrollbackLine::missing`] until requested.
    Exact,
    /// Turned off (a limit of 0 lines).
    Off,
}

/// Why a scrollback request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScrollbackError {
    /// The server keeps no scrollback (upstream `mosh-server`, or not known yet): only the
    /// captured lines exist.
    #[error("the server does not serve scrollback")]
    NotServed,
    /// The range is empty or reversed.
    #[error("empty scrollback range {from}..{to}")]
    EmptyRange {
        /// First line.
        from: u64,
        /// One past the last.
        to: u64,
    },
}

/// The client's scrollback in a saved session (field 18 of the saved-session payload).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SavedScrollback {
    #[prost(uint64, tag = "1")]
    pub limit: u64,
    #[prost(uint64, tag = "2")]
    pub prefetch: u64,
    #[prost(bool, tag = "3")]
    pub exact: bool,
    #[prost(uint64, tag = "4")]
    pub first: u64,
    #[prost(uint64, tag = "5")]
    pub epoch: u64,
    #[prost(uint64, tag = "6")]
    pub server_first: u64,
    #[prost(uint64, tag = "7")]
    pub next_id: u64,
    #[prost(message, repeated, tag = "8")]
    pub slots: Vec<SavedSlot>,
}

/// One saved line: absent when missing.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SavedSlot {
    #[prost(message, optional, tag = "1")]
    pub line: Option<crate::wire::ScrollbackWireLine>,
    #[prost(bool, tag = "2")]
    pub gap_before: bool,
}

/// The first request id of a new session; each restore moves on by [`RESTORE_ID_GAP`], so a
/// reply to a request of an earlier process is never taken for one of ours.
pub(crate) const FIRST_REQUEST_ID: u64 = 1 << 40;
const RESTORE_ID_GAP: u64 = 1 << 20;

/// Requests queued at most (older ones are dropped first).
const MAX_WANTED: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    id: u64,
}

/// What a new remote state did to the scrollback.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// The lines or their range changed.
    pub(crate) changed: bool,
    /// A request to put in the user stream.
    pub(crate) send: Option<UserEvent>,
}

#[derive(Debug, Clone)]
pub(crate) struct ClientScrollback {
    pub(crate) ring: Scrollback,
    pub(crate) exact: bool,
    /// The previous screen (capture mode).
    base: Option<Framebuffer>,
    pub(crate) epoch: u64,
    pub(crate) server_first: u64,
    outstanding: Option<Outstanding>,
    wanted: VecDeque<Range<u64>>,
    pub(crate) next_id: u64,
    prefetch: usize,
    completed: Vec<Range<u64>>,
}

impl ClientScrollback {
    pub(crate) fn new(limit: usize, prefetch: usize, next_id: u64) -> Self {
        ClientScrollback {
            ring: Scrollback::new(limit),
            exact: false,
            base: None,
            epoch: 0,
            server_first: 0,
            outstanding: None,
            wanted: VecDeque::new(),
            next_id,
            prefetch,
            completed: Vec::new(),
        }
    }

    pub(crate) fn mode(&self) -> ScrollbackMode {
        if self.ring.limit() == 0 {
            ScrollbackMode::Off
        } else if self.exact {
            ScrollbackMode::Exact
        } else {
            ScrollbackMode::Captured
        }
    }

    /// Requests whose lines have all arrived (or are gone from the server) since the last call.
    pub(crate) fn take_completed(&mut self) -> Vec<Range<u64>> {
        std::mem::take(&mut self.completed)
    }

    /// A new newest remote state.
    pub(crate) fn on_remote_state(&mut self, state: &HostState) -> Changes {
        let mut changes = Changes::default();
        if self.ring.limit() == 0 {
            return changes;
        }
        let sync = &state.scrollback;
        if sync.enabled {
            self.base = None;
            if !self.exact || sync.epoch != self.epoch {
                // From captured lines to the server's, or the application erased its
                // scrollback (ED 3): start over at the server's numbering.
                let entering = !self.exact;
                self.exact = true;
                self.epoch = sync.epoch;
                let keep = sync.end.saturating_sub(self.ring.limit() as u64);
                self.ring.reset(sync.first.max(keep).min(sync.end));
                self.outstanding = None;
                self.wanted.clear();
                if entering && self.prefetch > 0 {
                    self.wanted
                        .push_back(sync.end.saturating_sub(self.prefetch as u64)..sync.end);
                }
                changes.changed = true;
            }
            self.server_first = sync.first;
            if sync.end > self.ring.end() {
                self.ring.extend_missing(sync.end);
                changes.changed = true;
            }
            for (i, line) in sync.incoming.iter() {
                if self.ring.is_missing(*i) {
                    self.ring.fill(*i, line.clone());
                    changes.changed = true;
                }
            }
            if let (Some(reply), Some(out)) = (&sync.reply, self.outstanding) {
                if reply.id == out.id {
                    self.outstanding = None;
                    for (i, line) in (reply.from..).zip(&reply.lines) {
                        if self.ring.is_missing(i) {
                            self.ring.fill(i, line.clone());
                            changes.changed = true;
                        }
                    }
                }
            }
            let before = self.ring.range();
            self.ring.drop_missing_before(self.server_first);
            changes.changed |= before != self.ring.range();
            changes.send = self.next_request();
        } else if !self.exact {
            let fb = state.framebuffer();
            if let Some(base) = &self.base {
                match detect_scroll(base, fb) {
                    TopChange::Scrolled(k) => {
                        for row in base.rows().take(k) {
                            self.ring.push(StoredLine::from_row(base, row));
                        }
                        changes.changed = true;
                    }
                    TopChange::Unexplained => self.ring.mark_gap(),
                    TopChange::None => {}
                }
            }
            self.base = Some(fb.clone());
        }
        changes
    }

    /// The app wants the lines `[from, to)`: returns the request to send now, if any.
    pub(crate) fn request(
        &mut self,
        from: u64,
        to: u64,
    ) -> Result<Option<UserEvent>, ScrollbackError> {
        if from >= to {
            return Err(ScrollbackError::EmptyRange { from, to });
        }
        if !self.exact {
            return Err(ScrollbackError::NotServed);
        }
        if self.wanted.len() >= MAX_WANTED {
            self.wanted.pop_front();
        }
        self.wanted.push_back(from..to);
        Ok(self.next_request())
    }

    /// The next request to send, if none is outstanding; completes the requests whose lines
    /// are all here.
    fn next_request(&mut self) -> Option<UserEvent> {
        if self.outstanding.is_some() {
            return None;
        }
        let low = self.server_first.max(self.ring.range().start);
        while let Some(range) = self.wanted.front().cloned() {
            let start = range.start.max(low);
            let end = range.end.min(self.ring.end());
            match (start..end).find(|&i| self.ring.is_missing(i)) {
                None => {
                    self.wanted.pop_front();
                    self.completed.push(range);
                }
                Some(first_missing) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.outstanding = Some(Outstanding { id });
                    return Some(UserEvent::ScrollbackRequest {
                        id,
                        from: first_missing,
                        to: end,
                    });
                }
            }
        }
        None
    }

    pub(crate) fn to_saved(&self) -> SavedScrollback {
        SavedScrollback {
            limit: self.ring.limit() as u64,
            prefetch: self.prefetch as u64,
            exact: self.exact,
            first: self.ring.range().start,
            epoch: self.epoch,
            server_first: self.server_first,
            next_id: self.next_id,
            slots: self
                .ring
                .slots()
                .map(|(line, gap_before)| SavedSlot {
                    line: line.map(StoredLine::to_wire),
                    gap_before,
                })
                .collect(),
        }
    }

    pub(crate) fn from_saved(saved: &SavedScrollback) -> Result<Self, super::LineError> {
        let limit = usize::try_from(saved.limit).unwrap_or(usize::MAX);
        let prefetch = usize::try_from(saved.prefetch).unwrap_or(0);
        let mut c = ClientScrollback::new(limit, prefetch, saved.next_id);
        c.exact = saved.exact;
        c.epoch = saved.epoch;
        c.server_first = saved.server_first;
        c.ring.reset(saved.first);
        for slot in saved.slots.iter().take(c.ring.limit()) {
            let line = slot.line.as_ref().map(StoredLine::from_wire).transpose()?;
            c.ring.push_slot(line, slot.gap_before);
        }
        c.restored();
        Ok(c)
    }

    /// After a restore: nothing is outstanding; ask again for the newest lines.
    pub(crate) fn restored(&mut self) {
        self.outstanding = None;
        self.wanted.clear();
        self.base = None;
        self.next_id = self.next_id.saturating_add(RESTORE_ID_GAP);
        if self.exact && self.prefetch > 0 {
            let end = self.ring.end();
            self.wanted
                .push_back(end.saturating_sub(self.prefetch as u64)..end);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn text(c: &ClientScrollback) -> Vec<String> {
        let r = c.ring.range();
        c.ring
            .lines(r.start, usize::MAX)
            .iter()
            .map(|l| {
                let t: String = l.cells.iter().map(|c| c.text.as_str()).collect();
                format!("{}{}", if l.gap_before { "~" } else { "" }, t.trim_end())
            })
            .collect()
    }

    #[test]
    fn captures_scrolled_rows_of_an_upstream_host_and_marks_gaps() {
        let mut c = ClientScrollback::new(100, 10, FIRST_REQUEST_ID);
        let mut host = HostState::new(10, 3).unwrap();
        let frame = |c: &mut ClientScrollback, host: &mut HostState, bytes: &[u8]| {
            host.terminal_mut().feed(bytes);
            c.on_remote_state(host)
        };
        assert!(!frame(&mut c, &mut host, b"a\r\nb\r\nc").changed);
        assert!(frame(&mut c, &mut host, b"\r\nd").changed);
        frame(&mut c, &mut host, b"\r\ne\r\nf");
        assert_eq!(text(&c), ["a", "b", "c"]);
        // More than a screenful between two frames: lost, and marked.
        frame(&mut c, &mut host, b"\r\n1\r\n2\r\n3\r\n4\r\n5");
        frame(&mut c, &mut host, b"\r\n6");
        assert_eq!(text(&c), ["a", "b", "c", "~3"]);
        assert_eq!(c.mode(), ScrollbackMode::Captured);
        assert_eq!(c.request(0, 4), Err(ScrollbackError::NotServed));
        assert_eq!(
            c.request(4, 4),
            Err(ScrollbackError::EmptyRange { from: 4, to: 4 })
        );
    }

    #[test]
    fn the_alternate_screen_of_a_moshkit_host_never_feeds_scrollback() {
        let mut host = HostState::new(10, 3).unwrap();
        host.terminal_mut().set_scrollback_capture(true);
        host.terminal_mut().feed(b"a\r\nb\r\nc\r\nd");
        assert_eq!(host.terminal_mut().take_scrolled_off().lines.len(), 1);
        host.terminal_mut()
            .feed(b"\x1b[?1049h1\r\n2\r\n3\r\n4\r\n5\x1b[?1049l");
        assert!(host.terminal_mut().take_scrolled_off().lines.is_empty());
        // Scrolling a region that does not start at the top row keeps nothing either.
        host.terminal_mut()
            .feed(b"\x1b[2;3r\x1b[3;1H\r\nx\r\ny\x1b[r");
        assert!(host.terminal_mut().take_scrolled_off().lines.is_empty());
        // SU at the top keeps its rows; ED 3 erases what is pending and says so.
        host.terminal_mut().feed(b"\x1b[2S");
        assert_eq!(host.terminal_mut().take_scrolled_off().lines.len(), 2);
        host.terminal_mut().feed(b"\r\n\r\n\r\n\x1b[3J");
        let taken = host.terminal_mut().take_scrolled_off();
        assert!(taken.cleared && taken.lines.is_empty());
    }
}
