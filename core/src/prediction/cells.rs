//! Cell and cursor predictions: what one guess is and how it is judged against a screen.

use std::time::Instant;

use super::{Glyph, NEVER, Screen};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Validity {
    Pending,
    Correct,
    CorrectNoCredit,
    IncorrectOrExpired,
    Inactive,
}

#[derive(Debug, Clone)]
pub(super) struct CellPrediction<R> {
    pub(super) col: usize,
    pub(super) active: bool,
    pub(super) tentative_until_epoch: u64,
    pub(super) expiration_frame: u64,
    pub(super) prediction_time: Instant,
    pub(super) replacement: (Glyph, R),
    pub(super) unknown: bool,
    pub(super) original_contents: Vec<Glyph>,
}

impl<R: Copy + Eq> CellPrediction<R> {
    pub(super) fn new(col: usize, epoch: u64, now: Instant, blank: R) -> Self {
        CellPrediction {
            col,
            active: false,
            tentative_until_epoch: epoch,
            expiration_frame: NEVER,
            prediction_time: now,
            replacement: (Glyph::Blank, blank),
            unknown: false,
            original_contents: Vec::new(),
        }
    }

    pub(super) fn reset(&mut self) {
        self.active = false;
        self.unknown = false;
        self.original_contents.clear();
        self.tentative_until_epoch = NEVER;
        self.expiration_frame = NEVER;
    }

    pub(super) fn reset_with_orig(&mut self) {
        if !self.active || self.unknown {
            self.reset();
            return;
        }
        let kept = self.replacement.0;
        self.reset();
        self.original_contents.push(kept);
    }

    pub(super) fn tentative(&self, confirmed_epoch: u64) -> bool {
        self.tentative_until_epoch > confirmed_epoch
    }

    pub(super) fn validity<S: Screen<Rendition = R>>(
        &self,
        row: usize,
        s: &S,
        late_acked: u64,
        extensions: bool,
    ) -> Validity {
        if !self.active {
            return Validity::Inactive;
        }
        if row >= s.rows() || self.col >= s.cols() {
            return Validity::IncorrectOrExpired;
        }
        if late_acked < self.expiration_frame {
            return Validity::Pending;
        }
        if self.unknown {
            return Validity::CorrectNoCredit;
        }
        if self.replacement.0 == Glyph::Blank {
            // A typed space that replaced text and shows as blank is an echo (MoshKit's
            // addition); over blanks it proves nothing (upstream gives blanks no credit at all).
            let replaced_text = !self.original_contents.is_empty()
                && !self.original_contents.contains(&Glyph::Blank);
            if extensions && replaced_text && s.glyph(row, self.col) == Glyph::Blank {
                return Validity::Correct;
            }
            return Validity::CorrectNoCredit;
        }
        if s.glyph(row, self.col) == self.replacement.0 {
            if self.original_contents.contains(&self.replacement.0) {
                Validity::CorrectNoCredit
            } else {
                Validity::Correct
            }
        } else {
            Validity::IncorrectOrExpired
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct CursorPrediction {
    pub(super) row: usize,
    pub(super) col: usize,
    pub(super) active: bool,
    pub(super) tentative_until_epoch: u64,
    pub(super) expiration_frame: u64,
    pub(super) prediction_time: Instant,
    /// A guess of where Up/Down moves the cursor; never moved by later keys (MoshKit's
    /// addition, see [`PredictionEngine::set_extensions`]).
    pub(super) vertical: bool,
}

impl CursorPrediction {
    pub(super) fn validity<S: Screen>(&self, s: &S, late_acked: u64) -> Validity {
        if !self.active {
            return Validity::Inactive;
        }
        if self.row >= s.rows() || self.col >= s.cols() {
            return Validity::IncorrectOrExpired;
        }
        if late_acked >= self.expiration_frame {
            if s.cursor() == (self.row, self.col) {
                Validity::Correct
            } else {
                Validity::IncorrectOrExpired
            }
        } else {
            Validity::Pending
        }
    }
}
