//! Upstream's prediction engine: its state, the display triggers, and typed input turned into
//! guesses.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use super::cells::{CellPrediction, CursorPrediction};
use super::input::{Action, Actions, InputParser};
use super::*;

/// The prediction engine. Feed it the user's bytes and the transport's progress; ask it what to
/// draw.
#[derive(Debug)]
pub struct PredictionEngine<R> {
    pub(super) preference: DisplayPreference,
    pub(super) overwrite: bool,
    pub(super) rows: BTreeMap<usize, Vec<CellPrediction<R>>>,
    pub(super) cursors: Vec<CursorPrediction>,
    pub(super) prediction_epoch: u64,
    pub(super) confirmed_epoch: u64,
    pub(super) flagging: bool,
    pub(super) srtt_trigger: bool,
    pub(super) glitch_trigger: u32,
    pub(super) last_quick_confirmation: Option<Instant>,
    pub(super) local_frame_sent: u64,
    pub(super) local_frame_acked: u64,
    pub(super) local_frame_late_acked: u64,
    pub(super) screen_acked: u64,
    pub(super) send_interval: Duration,
    pub(super) last_size: (usize, usize),
    pub(super) parser: InputParser,
    pub(super) last_byte: u8,
    pub(super) blank_rendition: R,
    /// MoshKit's additions to upstream's rules (see [`PredictionEngine::set_extensions`]).
    pub(super) extensions: bool,
    /// Row prefixes (the prompt left of the cursor) after which typed characters have echoed.
    pub(super) learned_prompts: Vec<Vec<Glyph>>,
    /// The prompt in front of the first character predicted on a fresh line: (epoch, row,
    /// column, prompt), learned once that character is confirmed.
    pub(super) pending_prompt: Option<(u64, usize, usize, Vec<Glyph>)>,
    /// The user-stream state that carries the newest typed byte.
    pub(super) last_input_frame: u64,
    /// The state carrying the newest unpredictable key.
    pub(super) stale_until_frame: u64,
    /// The epoch that key started: guesses from earlier epochs were made before it.
    pub(super) stale_epoch: u64,
    /// Bytes typed since the newest unpredictable key while the screen was stale, with the
    /// state that carries each and when it was typed: predicted again from the current screen
    /// once the server has processed that key.
    pub(super) replay: Vec<(u64, Instant, u8)>,
    /// More than [`REPLAY_MAX`] bytes were typed since the newest unpredictable key.
    pub(super) replay_overflow: bool,
    /// The newest typed bytes (at most [`REPLAY_MAX`]), each with the state that carries it
    /// and when it was typed: after a wrong guess drops the predictions, the keys the server
    /// has not processed yet are predicted again from the screen that judged it.
    pub(super) recent: std::collections::VecDeque<(u64, Instant, u8)>,
    /// Up/Down have been seen to move the cursor one row, as in an editor: they stay in the
    /// current epoch. Forgotten at any other unpredictable key and at every reset.
    pub(super) vertical_learned: bool,
    /// The first of the epochs since the last confirmed one, if all were started by Up/Down.
    pub(super) vertical_chain: Option<u64>,
    /// The column Up/Down aim for (editors keep it across shorter lines).
    pub(super) goal_col: Option<usize>,
}

impl<R: Copy + Eq + fmt::Debug> PredictionEngine<R> {
    /// A new engine. `overwrite` is `MOSH_PREDICTION_OVERWRITE=yes`; `blank_rendition` is the
    /// default rendition (used for cells not yet predicted).
    pub fn new(preference: DisplayPreference, overwrite: bool, blank_rendition: R) -> Self {
        PredictionEngine {
            preference,
            overwrite,
            rows: BTreeMap::new(),
            cursors: Vec::new(),
            prediction_epoch: 1,
            confirmed_epoch: 0,
            flagging: false,
            srtt_trigger: false,
            glitch_trigger: 0,
            last_quick_confirmation: None,
            local_frame_sent: 0,
            local_frame_acked: 0,
            local_frame_late_acked: 0,
            screen_acked: 0,
            send_interval: INITIAL_SEND_INTERVAL,
            last_size: (0, 0),
            parser: InputParser(vte::Parser::new()),
            last_byte: 0,
            blank_rendition,
            extensions: true,
            learned_prompts: Vec::new(),
            pending_prompt: None,
            last_input_frame: 0,
            stale_until_frame: 0,
            stale_epoch: 0,
            replay: Vec::new(),
            replay_overflow: false,
            recent: std::collections::VecDeque::new(),
            vertical_learned: false,
            vertical_chain: None,
            goal_col: None,
        }
    }

    /// Turn MoshKit's additions to upstream's rules on (the default) or off (upstream's engine
    /// exactly). Each one predicts more than upstream only where it is safe (docs/prediction.md):
    ///
    /// - **Prompt learning.** Typing that starts on a fresh line is shown at once, instead of
    ///   after the first echo, when the text left of the cursor is a prompt after which typed
    ///   characters have echoed before (or a shell prompt: ends in `$ # % > ❯` and a space, no
    ///   "pass"), nothing follows the cursor, and the server has processed all earlier input
    ///   (so the prompt on screen is current). A password prompt never echoed, so typing there
    ///   stays hidden.
    /// - **Stale-screen guard and re-prediction.** After a key whose effect cannot be predicted
    ///   (Enter, an escape sequence), nothing shifted from the remote screen is claimed until
    ///   the server has processed that key (an editor redraws after Enter); then the keys typed
    ///   since, which it has not processed yet, are predicted again from the current screen.
    /// - **Spaces over text.** A typed space that replaced text and shows as blank on the
    ///   server's screen confirms its epoch (upstream gives blanks no credit at all).
    /// - **Up/Down.** The cursor is guessed to move one row towards a goal column, clamped to
    ///   the line's end; once the server's screen has shown such a guess right (an editor, not a
    ///   shell's history), Up/Down no longer hide what follows them, until any other
    ///   unpredictable key.
    pub fn set_extensions(&mut self, on: bool) {
        self.extensions = on;
        if !on {
            self.learned_prompts.clear();
            self.pending_prompt = None;
        }
    }

    /// What the engine learned (prompts after which typing echoed; whether Up/Down move one
    /// row), for saving a session.
    pub fn learned(&self) -> (Vec<Vec<Glyph>>, bool) {
        (self.learned_prompts.clone(), self.vertical_learned)
    }

    /// Restores what [`PredictionEngine::learned`] returned (at most
    /// [`super::LEARNED_PROMPTS_MAX`] prompts are kept).
    pub fn set_learned(&mut self, prompts: Vec<Vec<Glyph>>, vertical: bool) {
        self.learned_prompts = prompts;
        self.learned_prompts.truncate(super::LEARNED_PROMPTS_MAX);
        self.vertical_learned = vertical;
    }

    /// How many guesses, cursor predictions and replayed bytes are held (a bounded figure:
    /// the soak test watches it).
    pub fn tracked(&self) -> usize {
        self.rows.values().map(Vec::len).sum::<usize>() + self.cursors.len() + self.replay.len()
    }

    /// The display preference.
    pub fn preference(&self) -> DisplayPreference {
        self.preference
    }

    /// Change the display preference (drops all predictions).
    pub fn set_preference(&mut self, preference: DisplayPreference) {
        self.preference = preference;
        self.reset();
    }

    /// The number of the newest user-stream state sent (predictions made now expire at the next).
    pub fn set_local_frame_sent(&mut self, n: u64) {
        self.local_frame_sent = n;
    }

    /// The newest user-stream state the server acknowledged.
    pub fn set_local_frame_acked(&mut self, n: u64) {
        self.local_frame_acked = n;
    }

    /// The server's echo ack: the newest state whose keystrokes have had time to echo.
    pub fn set_local_frame_late_acked(&mut self, n: u64) {
        self.local_frame_late_acked = n;
    }

    /// The newest user-stream state the server had received when it sent the current remote
    /// screen (the ack that arrived with that screen). The screen is taken to show those keys'
    /// echo: the server writes input to the application at once and sends no sooner than
    /// 8 ms after a change.
    pub fn set_screen_acked(&mut self, n: u64) {
        self.screen_acked = n;
    }

    /// The transport's current send interval (`ceil(SRTT/2)` clamped to 20..250 ms).
    pub fn set_send_interval(&mut self, interval: Duration) {
        self.send_interval = interval;
    }

    /// Whether predictions are currently shown with underline.
    pub fn flagging(&self) -> bool {
        self.flagging
    }

    /// Whether predictions are currently displayed at all (the adaptive triggers, or the mode).
    pub fn displaying(&self) -> bool {
        match self.preference {
            DisplayPreference::Never => false,
            DisplayPreference::Always | DisplayPreference::Experimental => true,
            DisplayPreference::Adaptive => self.srtt_trigger || self.glitch_trigger > 0,
        }
    }

    /// Whether any prediction is outstanding.
    pub fn active(&self) -> bool {
        !self.cursors.is_empty() || self.rows.values().flatten().any(|c| c.active)
    }

    /// Drop every prediction and start a new epoch (resize, paste, a wrong displayed guess).
    pub fn reset(&mut self) {
        self.rows.clear();
        self.cursors.clear();
        self.replay.clear();
        self.vertical_learned = false;
        self.goal_col = None;
        self.become_tentative();
    }

    /// A key whose effect cannot be predicted: start a new epoch, and remember that the screen
    /// stays stale for this epoch until the server has processed the key.
    pub(super) fn unpredictable_key(&mut self) {
        self.become_tentative();
        self.vertical_learned = false;
        self.mark_stale();
    }

    /// The key just handled (after its new epoch began) may change the screen unpredictably:
    /// the keys typed from now on are logged for re-prediction.
    pub(super) fn mark_stale(&mut self) {
        self.replay.clear();
        self.replay_overflow = false;
        self.stale_until_frame = self.stale_until_frame.max(self.local_frame_sent + 1);
        self.stale_epoch = self.prediction_epoch;
    }

    /// Whether the remote screen has yet to show the effect of an unpredictable key: content
    /// copied from it may be about to change (MoshKit's addition, see [`PredictionEngine`]).
    pub(super) fn screen_stale(&self) -> bool {
        self.extensions && self.local_frame_late_acked < self.stale_until_frame
    }

    pub(super) fn become_tentative(&mut self) {
        self.vertical_chain = None;
        if self.preference != DisplayPreference::Experimental {
            self.prediction_epoch += 1;
        }
    }

    /// How long until timing-based triggers need re-evaluating, if at all.
    pub fn wait_time(&self) -> Option<Duration> {
        (self.active() && (self.glitch_trigger == 0 || !self.flagging)).then_some(PREDICTION_TICK)
    }

    /// Feed one read of user input (bytes as sent to the server). A read longer than
    /// [`PASTE_THRESHOLD`] is a paste: everything is reset and nothing is predicted.
    pub fn new_user_input<S: Screen<Rendition = R>>(&mut self, bytes: &[u8], s: &S, now: Instant) {
        if self.preference == DisplayPreference::Never {
            return;
        }
        if bytes.len() > PASTE_THRESHOLD {
            self.new_paste(bytes, s, now);
            return;
        }
        for &b in bytes {
            self.new_user_byte(b, s, now);
        }
    }

    /// Feed a paste (the bytes sent, bracketed or not): predicted at a confirmed prompt when
    /// the extensions are on (see `predict_paste`), otherwise everything is reset and nothing
    /// is predicted, as upstream does for any read over [`PASTE_THRESHOLD`] bytes.
    pub fn new_paste<S: Screen<Rendition = R>>(&mut self, bytes: &[u8], s: &S, now: Instant) {
        if self.preference == DisplayPreference::Never {
            return;
        }
        // A paste is not replayed after a wrong guess: it has no place in the key log.
        self.recent.clear();
        if self.extensions {
            self.cull(s, now);
            if self.predict_paste(bytes, s, now) {
                return;
            }
        }
        self.reset();
    }

    /// Feed one byte the user typed.
    pub fn new_user_byte<S: Screen<Rendition = R>>(&mut self, byte: u8, s: &S, now: Instant) {
        if self.preference == DisplayPreference::Never {
            return;
        }
        if self.preference == DisplayPreference::Experimental {
            self.prediction_epoch = self.confirmed_epoch;
        }
        self.cull(s, now);
        // Cursor keys arrive in SS3 form from the client's terminal; treat them as CSI.
        let byte = if self.last_byte == 0x1b && byte == b'O' {
            b'['
        } else {
            byte
        };
        self.last_byte = byte;
        if self.extensions {
            if self.recent.len() >= REPLAY_MAX {
                self.recent.pop_front();
            }
            self.recent
                .push_back((self.local_frame_sent + 1, now, byte));
        }
        if (self.screen_stale() || !self.replay.is_empty()) && !self.replay_overflow {
            if self.replay.len() < REPLAY_MAX {
                self.replay.push((self.local_frame_sent + 1, now, byte));
            } else {
                // Too much to re-predict: keep the predictions made from the stale screen.
                self.replay.clear();
                self.replay_overflow = true;
            }
        }
        let mut actions = Actions::default();
        self.parser.0.advance(&mut actions, &[byte]);
        for action in actions.0 {
            self.handle_action(action, s, now);
        }
        self.last_input_frame = self.local_frame_sent + 1;
    }

    pub(super) fn handle_action<S: Screen<Rendition = R>>(
        &mut self,
        action: Action,
        s: &S,
        now: Instant,
    ) {
        if !matches!(action, Action::CursorUp | Action::CursorDown) {
            self.goal_col = None;
        }
        match action {
            Action::Print(ch) => {
                let fresh = self.cursors.is_empty();
                if fresh && u32::from(ch) >= 0x20 && ch != '\x7f' && char_width(ch) == Some(1) {
                    self.fresh_line(s);
                }
                self.init_cursor(s, now);
                if ch == '\x7f' {
                    self.predict_backspace(s, now);
                } else if u32::from(ch) < 0x20 || char_width(ch) != Some(1) {
                    self.unpredictable_key();
                } else {
                    self.predict_char(ch, s, now);
                }
            }
            Action::Execute(b) => {
                self.unpredictable_key();
                if b == b'\r' {
                    self.newline_carriage_return(s, now);
                }
            }
            Action::Tentative => self.unpredictable_key(),
            Action::CursorUp | Action::CursorDown => {
                if self.extensions {
                    self.vertical_move(action == Action::CursorUp, s, now);
                } else {
                    self.unpredictable_key();
                }
            }
            Action::CursorRight | Action::CursorLeft => {
                self.init_cursor(s, now);
                let frame = self.local_frame_sent + 1;
                let cols = s.cols();
                if let Some(c) = self.cursors.last_mut() {
                    if action == Action::CursorRight && c.col + 1 < cols {
                        c.col += 1;
                    } else if action == Action::CursorLeft && c.col > 0 {
                        c.col -= 1;
                    }
                    c.expiration_frame = frame;
                    c.prediction_time = now;
                }
            }
        }
    }

    /// A cell as predicted (the remote cell where nothing known is predicted).
    pub(super) fn predicted_glyph<S: Screen<Rendition = R>>(
        &self,
        s: &S,
        row: usize,
        col: usize,
    ) -> Glyph {
        match self.rows.get(&row).and_then(|cells| cells.get(col)) {
            Some(c) if c.active && !c.unknown => c.replacement.0,
            _ => s.glyph(row, col),
        }
    }

    pub(super) fn new_cursor(&self, row: usize, col: usize, now: Instant) -> CursorPrediction {
        CursorPrediction {
            row,
            col,
            active: true,
            tentative_until_epoch: self.prediction_epoch,
            expiration_frame: self.local_frame_sent + 1,
            prediction_time: now,
            vertical: false,
        }
    }

    pub(super) fn init_cursor<S: Screen<Rendition = R>>(&mut self, s: &S, now: Instant) {
        match self.cursors.last() {
            None => {
                let (row, col) = s.cursor();
                let c = self.new_cursor(row, col, now);
                self.cursors.push(c);
            }
            Some(last) if last.tentative_until_epoch != self.prediction_epoch || last.vertical => {
                let c = self.new_cursor(last.row, last.col, now);
                self.cursors.push(c);
            }
            Some(_) => {}
        }
    }

    pub(super) fn cursor_pos(&self) -> (usize, usize) {
        self.cursors.last().map_or((0, 0), |c| (c.row, c.col))
    }

    pub(super) fn expire_cursor(&mut self, now: Instant) {
        let frame = self.local_frame_sent + 1;
        if let Some(c) = self.cursors.last_mut() {
            c.expiration_frame = frame;
            c.prediction_time = now;
        }
    }

    pub(super) fn row_mut(
        &mut self,
        row: usize,
        cols: usize,
        now: Instant,
    ) -> &mut Vec<CellPrediction<R>> {
        let epoch = self.prediction_epoch;
        let blank = self.blank_rendition;
        let cells = self.rows.entry(row).or_default();
        // Grow to the screen width on demand (a resize resets everything, so rows never shrink
        // while in use).
        while cells.len() < cols {
            let col = cells.len();
            cells.push(CellPrediction::new(col, epoch, now, blank));
        }
        cells
    }

    pub(super) fn activate(c: &mut CellPrediction<R>, epoch: u64, frame: u64, now: Instant) {
        c.active = true;
        c.tentative_until_epoch = epoch;
        c.expiration_frame = frame;
        c.prediction_time = now;
    }

    pub(super) fn predict_char<S: Screen<Rendition = R>>(&mut self, ch: char, s: &S, now: Instant) {
        let stale = self.screen_stale();
        let cols = s.cols();
        let (row, col) = self.cursor_pos();
        if row >= s.rows() || col >= cols {
            self.become_tentative();
            return;
        }
        if col + 1 >= cols {
            self.become_tentative();
        }
        let epoch = self.prediction_epoch;
        let frame = self.local_frame_sent + 1;
        let overwrite = self.overwrite;
        let cells = self.row_mut(row, cols, now);
        let rightmost = if overwrite { col } else { cols - 1 };
        for i in (col + 1..=rightmost).rev() {
            let (prev_active, prev_unknown, prev_replacement) = {
                let p = &cells[i - 1];
                (p.active, p.unknown, p.replacement)
            };
            let c = &mut cells[i];
            c.reset_with_orig();
            Self::activate(c, epoch, frame, now);
            c.original_contents.push(s.glyph(row, i));
            if i == cols - 1 {
                c.unknown = true;
            } else if prev_active {
                c.unknown = prev_unknown;
                if !prev_unknown {
                    c.replacement = prev_replacement;
                }
            } else {
                c.replacement = (s.glyph(row, i - 1), s.rendition(row, i - 1));
                // Nothing shifted from a screen that is about to change is claimed.
                c.unknown = stale;
            }
        }
        let left_rendition = if col > 0 {
            let p = &cells[col - 1];
            Some(if p.active && !p.unknown {
                p.replacement.1
            } else {
                s.rendition(row, col - 1)
            })
        } else {
            None
        };
        let c = &mut cells[col];
        c.reset_with_orig();
        Self::activate(c, epoch, frame, now);
        // A typed space is a blank cell, as upstream's `is_blank` sees it.
        let glyph = if ch == ' ' {
            Glyph::Blank
        } else {
            Glyph::Char(ch)
        };
        c.replacement = (
            glyph,
            left_rendition.unwrap_or_else(|| s.drawing_rendition()),
        );
        c.original_contents.push(s.glyph(row, col));
        self.expire_cursor(now);
        if col + 1 < cols {
            if let Some(c) = self.cursors.last_mut() {
                c.col += 1;
            }
        } else {
            self.become_tentative();
            self.newline_carriage_return(s, now);
        }
    }

    pub(super) fn predict_backspace<S: Screen<Rendition = R>>(&mut self, s: &S, now: Instant) {
        let stale = self.screen_stale();
        let cols = s.cols();
        let (row, col) = self.cursor_pos();
        if col == 0 || row >= s.rows() || col > cols {
            return;
        }
        let col = col - 1;
        if let Some(c) = self.cursors.last_mut() {
            c.col = col;
        }
        self.expire_cursor(now);
        let epoch = self.prediction_epoch;
        let frame = self.local_frame_sent + 1;
        let overwrite = self.overwrite;
        let cells = self.row_mut(row, cols, now);
        if overwrite {
            let (crow, ccol) = s.cursor();
            let (orig, orig_rend) = if crow < s.rows() && ccol < cols {
                (s.glyph(crow, ccol), s.rendition(crow, ccol))
            } else {
                (Glyph::Blank, s.drawing_rendition())
            };
            let c = &mut cells[col];
            c.reset_with_orig();
            Self::activate(c, epoch, frame, now);
            c.original_contents.push(orig);
            c.replacement = (Glyph::Blank, orig_rend);
            return;
        }
        for i in col..cols {
            let next = cells
                .get(i + 1)
                .map(|n| (n.active, n.unknown, n.replacement));
            let c = &mut cells[i];
            c.reset_with_orig();
            Self::activate(c, epoch, frame, now);
            c.original_contents.push(s.glyph(row, i));
            match next {
                Some((active, unknown, replacement)) if i + 2 < cols => {
                    if active {
                        c.unknown = unknown;
                        if !unknown {
                            c.replacement = replacement;
                        }
                    } else {
                        c.replacement = (s.glyph(row, i + 1), s.rendition(row, i + 1));
                        c.unknown = stale;
                    }
                }
                _ => c.unknown = true,
            }
        }
    }

    pub(super) fn newline_carriage_return<S: Screen<Rendition = R>>(
        &mut self,
        s: &S,
        now: Instant,
    ) {
        self.init_cursor(s, now);
        let (row, _) = self.cursor_pos();
        if let Some(c) = self.cursors.last_mut() {
            c.col = 0;
        }
        if row + 1 >= s.rows() {
            // Scrolling is not predicted: predict the last row as blank instead.
            let epoch = self.prediction_epoch;
            let frame = self.local_frame_sent + 1;
            let cols = s.cols();
            for c in self.row_mut(row, cols, now).iter_mut() {
                Self::activate(c, epoch, frame, now);
                c.unknown = false;
                c.replacement.0 = Glyph::Blank;
            }
        } else if let Some(c) = self.cursors.last_mut() {
            c.row += 1;
        }
    }
}
