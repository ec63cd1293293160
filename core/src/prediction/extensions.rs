//! MoshKit's additions to upstream's rules (on with `set_extensions`; docs/prediction.md argues
//! each one's safety): learned prompts and shell-prompt recognition, Up/Down with a goal
//! column, and a paste at a confirmed prompt.

use std::fmt;
use std::time::Instant;

use super::*;

impl<R: Copy + Eq + fmt::Debug> PredictionEngine<R> {
    /// The row's glyphs left of `col`, if nothing but blanks follows: a candidate prompt.
    pub(super) fn prompt_at<S: Screen<Rendition = R>>(
        s: &S,
        row: usize,
        col: usize,
    ) -> Option<Vec<Glyph>> {
        if row >= s.rows() || col == 0 || col >= s.cols() {
            return None;
        }
        if (col..s.cols()).any(|c| s.glyph(row, c) != Glyph::Blank) {
            return None;
        }
        Some((0..col).map(|c| s.glyph(row, c)).collect())
    }

    /// A paste at a confirmed prompt is predicted like typing (MoshKit's addition; upstream
    /// predicts no read over [`PASTE_THRESHOLD`] bytes). `bytes` is what goes to the server,
    /// with or without bracketed-paste markers. Predicted only when nothing else is: the
    /// cursor is where the server's is, after a learned or shell prompt with nothing after it,
    /// the server has processed all earlier input, the text is one line of printable,
    /// single-width characters, and it fits on the screen without scrolling (rows it wraps
    /// onto are blank and above the last row). Anything else resets, as upstream.
    pub(super) fn predict_paste<S: Screen<Rendition = R>>(
        &mut self,
        bytes: &[u8],
        s: &S,
        now: Instant,
    ) -> bool {
        if self.preference == DisplayPreference::Experimental {
            return false;
        }
        let body = bytes.strip_prefix(PASTE_START_MARKER).unwrap_or(bytes);
        let body = body.strip_suffix(PASTE_END_MARKER).unwrap_or(body);
        let Ok(text) = std::str::from_utf8(body) else {
            return false;
        };
        if text.is_empty()
            || text.len() > REPLAY_MAX
            || !text
                .chars()
                .all(|c| !c.is_control() && crate::terminal::char_width(c) == Some(1))
        {
            return false;
        }
        if self.active() || self.local_frame_late_acked < self.last_input_frame {
            return false;
        }
        let (row, col) = s.cursor();
        let Some(prompt) = Self::prompt_at(s, row, col) else {
            return false;
        };
        if !(self.learned_prompts.contains(&prompt) || shell_prompt(&prompt)) {
            return false;
        }
        let cols = s.cols();
        let n = text.chars().count();
        // Rows the text continues on (a character in the last column wraps the cursor).
        let extra_rows = (col + n) / cols;
        if extra_rows > 0
            && (row + extra_rows >= s.rows().saturating_sub(1)
                || (row + 1..=row + extra_rows)
                    .any(|r| (0..cols).any(|c| s.glyph(r, c) != Glyph::Blank)))
        {
            return false;
        }
        for ch in text.chars() {
            let wraps = self.cursors.last().is_some_and(|c| c.col + 1 >= cols);
            self.handle_action(input::Action::Print(ch), s, now);
            if wraps {
                // The last column starts a hidden epoch (upstream); the paste continues on the
                // blank row below as the application's line wraps, so it stays shown.
                self.confirmed_epoch = self.confirmed_epoch.max(self.prediction_epoch);
            }
        }
        self.last_input_frame = self.local_frame_sent + 1;
        true
    }

    /// Prompt learning, before the first character predicted on a line started from the
    /// server's own cursor: reveal the epoch at a learned prompt, and remember this prompt so it
    /// can be learned once the character echoes.
    pub(super) fn fresh_line<S: Screen<Rendition = R>>(&mut self, s: &S) {
        if !self.extensions || self.preference == DisplayPreference::Experimental {
            return;
        }
        let (row, col) = s.cursor();
        let Some(prompt) = Self::prompt_at(s, row, col) else {
            return;
        };
        let caught_up = self.local_frame_late_acked >= self.last_input_frame;
        if caught_up && (self.learned_prompts.contains(&prompt) || shell_prompt(&prompt)) {
            self.confirmed_epoch = self.confirmed_epoch.max(self.prediction_epoch);
        }
        self.pending_prompt = Some((self.prediction_epoch, row, col, prompt));
    }

    pub(super) fn learn_prompt(&mut self, epoch: u64, row: usize, col: usize) {
        let Some((e, r, c, _)) = &self.pending_prompt else {
            return;
        };
        if (*e, *r, *c) != (epoch, row, col) {
            return;
        }
        let Some((_, _, _, prompt)) = self.pending_prompt.take() else {
            return;
        };
        if !self.learned_prompts.contains(&prompt) {
            if self.learned_prompts.len() >= LEARNED_PROMPTS_MAX {
                self.learned_prompts.remove(0);
            }
            self.learned_prompts.push(prompt);
        }
    }

    /// Up/Down (MoshKit's addition; upstream starts a new epoch and predicts nothing). A shell
    /// recalls history, an editor moves the cursor: guess the editor's move (one row, towards
    /// the goal column, clamped to the end of the target line's text). Until such a guess has
    /// been confirmed the key starts a new epoch as upstream's does, so typing after it is only
    /// placed right once revealed; once confirmed, Up/Down stay in the current epoch and the
    /// cursor and typing after them are shown at once.
    pub(super) fn vertical_move<S: Screen<Rendition = R>>(
        &mut self,
        up: bool,
        s: &S,
        now: Instant,
    ) {
        let (row, col) = self
            .cursors
            .last()
            .map_or_else(|| s.cursor(), |c| (c.row, c.col));
        let target = if up {
            row.checked_sub(1)
        } else {
            Some(row + 1).filter(|&r| r < s.rows())
        };
        let goal = *self.goal_col.get_or_insert(col);
        let Some(row) = target else {
            // At the screen's edge an editor scrolls: nothing to guess.
            self.unpredictable_key();
            return;
        };
        if !self.vertical_learned {
            // As upstream: a new epoch, and the screen is stale until the server has processed
            // the key (a shell redraws the line). Once learned, the guess is that only the
            // cursor moves; if the editor redraws after all, the guess is judged wrong.
            let previous_confirmed = self.prediction_epoch <= self.confirmed_epoch;
            let chain = self.vertical_chain;
            self.become_tentative();
            self.mark_stale();
            self.vertical_chain = if previous_confirmed {
                Some(self.prediction_epoch)
            } else {
                chain
            };
        }
        let end = (0..s.cols())
            .rev()
            .find(|&c| self.predicted_glyph(s, row, c) != Glyph::Blank)
            .map_or(0, |c| c + 1);
        let mut c = self.new_cursor(row, goal.min(end), now);
        c.vertical = true;
        self.cursors.push(c);
    }
}

/// Whether a row prefix looks like a shell's or a REPL's prompt: it ends in one of the usual
/// prompt characters and a space, and does not mention a password.
pub(super) fn shell_prompt(prompt: &[Glyph]) -> bool {
    let [.., Glyph::Char(sigil), Glyph::Blank] = prompt else {
        return false;
    };
    if !matches!(sigil, '$' | '#' | '%' | '>' | '❯') {
        return false;
    }
    let text: String = prompt
        .iter()
        .map(|g| match g {
            Glyph::Char(c) => c.to_ascii_lowercase(),
            _ => ' ',
        })
        .collect();
    !text.contains("pass")
}
