//! Judging guesses against each new server screen (confirm, expire, kill an epoch, reset),
//! and the overlay drawn over the screen.

use std::fmt;
use std::time::Instant;

use super::cells::Validity;
use super::input::{Actions, InputParser};
use super::*;

impl<R: Copy + Eq + fmt::Debug> PredictionEngine<R> {
    pub(super) fn kill_epoch<S: Screen<Rendition = R>>(&mut self, epoch: u64, s: &S, now: Instant) {
        self.replay.clear();
        self.cursors.retain(|c| c.tentative_until_epoch < epoch);
        let (row, col) = s.cursor();
        let mut c = self.new_cursor(row, col, now);
        if self.extensions {
            // This cursor stands for the server's, not for a key: it is judged with the newest
            // typed key. Upstream judges it with the next state sent, which may be an empty
            // ack that the server never echo-acks on its own (it echo-acks input only), so the
            // stale cursor blocked the next command's predictions until more typing arrived.
            c.expiration_frame = c.expiration_frame.min(self.last_input_frame);
        }
        self.cursors.push(c);
        for c in self.rows.values_mut().flatten() {
            if c.tentative_until_epoch >= epoch {
                c.reset();
            }
        }
        self.become_tentative();
    }

    /// Judge outstanding predictions against the latest remote screen: confirm, expire or reset
    /// them, and update the display triggers. Run before every display and every new byte.
    pub fn cull<S: Screen<Rendition = R>>(&mut self, s: &S, now: Instant) {
        if self.preference == DisplayPreference::Never {
            return;
        }
        let size = (s.cols(), s.rows());
        if size != self.last_size {
            self.last_size = size;
            self.reset();
            self.recent.clear();
        }
        if self.send_interval > SRTT_TRIGGER_HIGH {
            self.srtt_trigger = true;
        } else if self.srtt_trigger && self.send_interval <= SRTT_TRIGGER_LOW && !self.active() {
            self.srtt_trigger = false;
        }
        if self.send_interval > FLAG_TRIGGER_HIGH {
            self.flagging = true;
        } else if self.send_interval <= FLAG_TRIGGER_LOW {
            self.flagging = false;
        }
        if self.glitch_trigger > GLITCH_REPAIR_COUNT {
            self.flagging = true;
        }
        let experimental = self.preference == DisplayPreference::Experimental;
        let late = self.local_frame_late_acked;
        self.rows.retain(|&row, _| row < size.1);
        let row_numbers: Vec<usize> = self.rows.keys().copied().collect();
        for row in row_numbers {
            let mut j = 0;
            while let Some(cell) = self.rows.get(&row).and_then(|cells| cells.get(j)) {
                let validity = cell.validity(row, s, late, self.extensions);
                let tentative = cell.tentative(self.confirmed_epoch);
                let epoch = cell.tentative_until_epoch;
                let elapsed = now.saturating_duration_since(cell.prediction_time);
                match validity {
                    Validity::IncorrectOrExpired => {
                        let superseded = self.screen_stale() && epoch < self.stale_epoch;
                        if experimental || superseded {
                            // A guess from before a key the server is processing now may be
                            // judged against a screen that already shows that key's effect
                            // (the server answers within its 50 ms echo window): drop the
                            // guess, not everything (MoshKit's addition).
                            self.reset_cell(row, j);
                        } else if tentative {
                            self.kill_epoch(epoch, s, now);
                            self.repredict_in_flight(s);
                        } else {
                            self.reset();
                            self.repredict_in_flight(s);
                            return;
                        }
                    }
                    Validity::Correct => {
                        if epoch > self.confirmed_epoch {
                            self.confirmed_epoch = epoch;
                        }
                        let col = cell.col;
                        self.learn_prompt(epoch, row, col);
                        if elapsed < GLITCH_THRESHOLD
                            && self.glitch_trigger > 0
                            && self.last_quick_confirmation.is_none_or(|t| {
                                now.saturating_duration_since(t) >= GLITCH_REPAIR_MININTERVAL
                            })
                        {
                            self.glitch_trigger -= 1;
                            self.last_quick_confirmation = Some(now);
                        }
                        let rend = s.rendition(row, col);
                        if let Some(cells) = self.rows.get_mut(&row) {
                            for c in cells.iter_mut().skip(j) {
                                c.replacement.1 = rend;
                            }
                        }
                        self.reset_cell(row, j);
                    }
                    Validity::CorrectNoCredit => self.reset_cell(row, j),
                    Validity::Pending => {
                        if elapsed >= GLITCH_FLAG_THRESHOLD {
                            self.glitch_trigger = GLITCH_REPAIR_COUNT * 2;
                        } else if elapsed >= GLITCH_THRESHOLD
                            && self.glitch_trigger < GLITCH_REPAIR_COUNT
                        {
                            self.glitch_trigger = GLITCH_REPAIR_COUNT;
                        }
                    }
                    Validity::Inactive => {}
                }
                j += 1;
            }
        }
        if self.extensions
            && self.cursors.iter().any(|c| {
                c.vertical && c.active && late >= c.expiration_frame && s.cursor() == (c.row, c.col)
            })
        {
            // Up/Down move the cursor as guessed: an editor. Reveal the epochs they started
            // since the last confirmed one.
            self.vertical_learned = true;
            if self
                .vertical_chain
                .take()
                .is_some_and(|first| first <= self.confirmed_epoch + 1)
            {
                self.confirmed_epoch = self.confirmed_epoch.max(self.prediction_epoch);
            }
        }
        if self
            .cursors
            .last()
            .is_some_and(|last| last.validity(s, late) == Validity::IncorrectOrExpired)
        {
            if experimental {
                self.cursors.clear();
            } else {
                self.reset();
                self.repredict_in_flight(s);
                return;
            }
        }
        self.cursors
            .retain(|c| c.validity(s, late) == Validity::Pending);
        if !self.replay.is_empty() && !self.screen_stale() {
            self.replay_on_current_screen(s);
        }
    }

    /// The server has processed the unpredictable key that made the screen stale: predict the
    /// keys typed since then that the current screen does not show yet (those the server had
    /// not received when it sent the screen) again from that screen (MoshKit's addition).
    /// Every prediction still outstanding was made after that key (older ones have been
    /// judged), so all are replaced.
    pub(super) fn replay_on_current_screen<S: Screen<Rendition = R>>(&mut self, s: &S) {
        let late = self.local_frame_late_acked.max(self.screen_acked);
        let replay = std::mem::take(&mut self.replay);
        if !replay.iter().any(|&(frame, _, _)| frame > late) {
            return;
        }
        self.rows.clear();
        self.cursors.clear();
        self.pending_prompt = None;
        // The log starts after a complete key, so a fresh parser is in step with it.
        self.predict_again(&replay, late, s);
    }

    /// Predicts the logged keys carried by states after `late` again from `s`, each with its
    /// own state and time (predictions expire at the state that carried the key, as when it
    /// was typed). The log must start at a key boundary; earlier keys only feed the parser.
    fn predict_again<S: Screen<Rendition = R>>(
        &mut self,
        log: &[(u64, Instant, u8)],
        late: u64,
        s: &S,
    ) {
        let sent = self.local_frame_sent;
        let mut parser = InputParser(vte::Parser::new());
        for &(frame, time, byte) in log {
            let mut actions = Actions::default();
            parser.0.advance(&mut actions, &[byte]);
            if frame <= late {
                continue;
            }
            self.local_frame_sent = frame - 1;
            for action in actions.0 {
                self.handle_action(action, s, time);
            }
        }
        self.local_frame_sent = sent;
    }

    /// A wrong guess dropped predictions: the keys typed after it that the server had not
    /// received when it drew this screen are predicted again from it, in the new (hidden)
    /// epoch, so that their places account for one another (MoshKit's addition). Upstream
    /// predicts only the keys typed from now on, from the server's cursor, which is still
    /// behind the keys in flight: in an editor whose first key is a command (vim's `i`) every
    /// later guess then lands one place off, is judged wrong in turn, and typing stays hidden
    /// until the user pauses. Nothing becomes visible sooner: the epoch is shown only once the
    /// server echoes one of its guesses, as for any new epoch.
    pub(super) fn repredict_in_flight<S: Screen<Rendition = R>>(&mut self, s: &S) {
        if !self.extensions || self.preference == DisplayPreference::Experimental {
            return;
        }
        let late = self.local_frame_late_acked.max(self.screen_acked);
        let Some(start) = self.recent.iter().position(|&(frame, _, _)| frame > late) else {
            return;
        };
        let keys: Vec<(u64, Instant, u8)> = self.recent.iter().skip(start).copied().collect();
        // The entries from `start` on begin with a complete key (a key travels in one state).
        self.predict_again(&keys, late, s);
    }

    pub(super) fn reset_cell(&mut self, row: usize, col: usize) {
        if let Some(c) = self.rows.get_mut(&row).and_then(|cells| cells.get_mut(col)) {
            c.reset();
        }
    }

    /// What to draw over the remote screen now (call [`PredictionEngine::cull`] first).
    pub fn apply<S: Screen<Rendition = R>>(&self, s: &S) -> PredictionOverlay<R> {
        let mut overlay = PredictionOverlay::default();
        if !self.displaying() {
            return overlay;
        }
        // The screen was sent after the server received an unpredictable key it has not
        // echo-acked yet: it shows that key's effect (an editor opened, a command's output), so
        // guesses from before the key are not drawn over it (MoshKit's addition; they are
        // judged as usual). That includes the cursor: a cursor guessed on the command line
        // before Enter is not drawn over the output that followed it (the cursor would sit
        // on an old row, then jump to the new prompt).
        let superseded_before =
            if self.screen_stale() && self.screen_acked >= self.stale_until_frame {
                self.stale_epoch
            } else {
                0
            };
        for c in &self.cursors {
            if c.active
                && c.tentative_until_epoch <= self.confirmed_epoch
                && c.tentative_until_epoch >= superseded_before
                && c.row < s.rows()
                && c.col < s.cols()
            {
                overlay.cursor = Some((c.row, c.col));
            }
        }
        let cols = s.cols();
        for (&row, cells) in &self.rows {
            if row >= s.rows() {
                continue;
            }
            for c in cells {
                if !c.active
                    || c.tentative(self.confirmed_epoch)
                    || c.col >= cols
                    || c.tentative_until_epoch < superseded_before
                {
                    continue;
                }
                let actual = (s.glyph(row, c.col), s.rendition(row, c.col));
                let mut flag = self.flagging;
                if c.replacement.0 == Glyph::Blank && actual.0 == Glyph::Blank {
                    flag = false;
                }
                if c.unknown {
                    if flag && c.col != cols - 1 {
                        overlay.cells.push(PredictedCell {
                            row,
                            col: c.col,
                            replacement: None,
                            underline: true,
                        });
                    }
                    continue;
                }
                if actual != c.replacement {
                    overlay.cells.push(PredictedCell {
                        row,
                        col: c.col,
                        replacement: Some(c.replacement),
                        underline: flag,
                    });
                }
            }
        }
        overlay
    }
}
