//! Speculative local echo: mosh's prediction engine (reference §9.2).
//!
//! The engine watches the bytes the user types and guesses their effect on the screen (characters
//! appear at the cursor, backspace deletes, CR moves to the next line). Guesses are grouped in
//! *epochs*: after anything the engine cannot predict (a control character, an escape sequence,
//! a wide character) later guesses stay hidden (*tentative*) until one of them is confirmed by
//! the server's echo, which reveals the whole epoch. A displayed guess that turns out wrong
//! resets everything.
//!
//! The engine is sans-IO and independent of the terminal's storage: it reads the latest remote
//! screen through the [`Screen`] trait and produces a [`PredictionOverlay`] (cells and cursor to
//! draw over a copy of that screen) instead of mutating a framebuffer. Time is passed in.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::terminal::char_width;

/// Send interval above which the SRTT trigger switches predictions on (`SRTT_TRIGGER_HIGH`).
pub const SRTT_TRIGGER_HIGH: Duration = Duration::from_millis(30);
/// Send interval at or below which the SRTT trigger may switch off (`SRTT_TRIGGER_LOW`).
pub const SRTT_TRIGGER_LOW: Duration = Duration::from_millis(20);
/// Send interval above which predictions are underlined (`FLAG_TRIGGER_HIGH`).
pub const FLAG_TRIGGER_HIGH: Duration = Duration::from_millis(80);
/// Send interval at or below which underlining stops (`FLAG_TRIGGER_LOW`).
pub const FLAG_TRIGGER_LOW: Duration = Duration::from_millis(50);
/// A prediction pending this long is a glitch (`GLITCH_THRESHOLD`).
pub const GLITCH_THRESHOLD: Duration = Duration::from_millis(250);
/// Quick confirmations needed to clear the glitch trigger (`GLITCH_REPAIR_COUNT`).
pub const GLITCH_REPAIR_COUNT: u32 = 10;
/// Minimum spacing between counted quick confirmations (`GLITCH_REPAIR_MININTERVAL`).
pub const GLITCH_REPAIR_MININTERVAL: Duration = Duration::from_millis(150);
/// A prediction pending this long forces display and underlining (`GLITCH_FLAG_THRESHOLD`).
pub const GLITCH_FLAG_THRESHOLD: Duration = Duration::from_millis(5000);
/// A single read of more than this many bytes is a paste and is not predicted.
pub const PASTE_THRESHOLD: usize = 100;
/// How often timing triggers are re-evaluated while predictions are outstanding.
pub const PREDICTION_TICK: Duration = Duration::from_millis(50);
/// Send interval assumed before the transport reports one (`SEND_INTERVAL_MAX`).
pub const INITIAL_SEND_INTERVAL: Duration = Duration::from_millis(250);

/// Prompts remembered as "typing here echoes" (see [`PredictionEngine`]'s prompt learning).
pub const LEARNED_PROMPTS_MAX: usize = 16;
/// Bytes typed while the screen is stale that are kept to be predicted again once it is current
/// (see [`PredictionEngine::set_extensions`]); typing beyond this during one round trip is not
/// re-predicted.
pub const REPLAY_MAX: usize = 1024;

const NEVER: u64 = u64::MAX;

/// When predictions are shown (`MOSH_PREDICTION_DISPLAY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DisplayPreference {
    /// Shown only while the link is slow or glitchy (upstream's default).
    #[default]
    Adaptive,
    /// Shown whenever confirmed.
    Always,
    /// No prediction at all.
    Never,
    /// Shown immediately; wrong guesses are dropped one by one.
    Experimental,
}

impl std::str::FromStr for DisplayPreference {
    type Err = UnknownPreference;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "adaptive" => Ok(Self::Adaptive),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            "experimental" => Ok(Self::Experimental),
            other => Err(UnknownPreference(other.to_owned())),
        }
    }
}

/// A prediction mode name that is not one of upstream's four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown prediction mode {0:?} (expected adaptive, always, never or experimental)")]
pub struct UnknownPreference(pub String);

/// The contents of a screen cell, as far as predictions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Glyph {
    /// Empty, or a single space (upstream's `is_blank`).
    Blank,
    /// One narrow character.
    Char(char),
    /// Anything else (wide characters, combining sequences), identified by a hash of its text.
    Other(u64),
}

/// Read access to the latest remote screen.
pub trait Screen {
    /// The terminal's rendition (colours and attributes) type.
    type Rendition: Copy + Eq + fmt::Debug;
    /// Columns.
    fn cols(&self) -> usize;
    /// Rows.
    fn rows(&self) -> usize;
    /// Cursor as (row, col).
    fn cursor(&self) -> (usize, usize);
    /// Contents of a cell (in bounds).
    fn glyph(&self, row: usize, col: usize) -> Glyph;
    /// Rendition of a cell (in bounds).
    fn rendition(&self, row: usize, col: usize) -> Self::Rendition;
    /// The rendition new text would be drawn with.
    fn drawing_rendition(&self) -> Self::Rendition;
}

/// One cell to draw over the remote screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredictedCell<R> {
    /// Row.
    pub row: usize,
    /// Column.
    pub col: usize,
    /// New contents and rendition, or `None` to keep the remote cell (an "unknown" prediction
    /// that is only underlined).
    pub replacement: Option<(Glyph, R)>,
    /// Whether to underline it (predictions are flagged on slow links).
    pub underline: bool,
}

/// What to draw over the remote screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictionOverlay<R> {
    /// Predicted cursor position, if it differs from the remote one.
    pub cursor: Option<(usize, usize)>,
    /// Predicted cells.
    pub cells: Vec<PredictedCell<R>>,
}

impl<R> Default for PredictionOverlay<R> {
    fn default() -> Self {
        PredictionOverlay {
            cursor: None,
            cells: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validity {
    Pending,
    Correct,
    CorrectNoCredit,
    IncorrectOrExpired,
    Inactive,
}

#[derive(Debug, Clone)]
struct CellPrediction<R> {
    col: usize,
    active: bool,
    tentative_until_epoch: u64,
    expiration_frame: u64,
    prediction_time: Instant,
    replacement: (Glyph, R),
    unknown: bool,
    original_contents: Vec<Glyph>,
}

impl<R: Copy + Eq> CellPrediction<R> {
    fn new(col: usize, epoch: u64, now: Instant, blank: R) -> Self {
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

    fn reset(&mut self) {
        self.active = false;
        self.unknown = false;
        self.original_contents.clear();
        self.tentative_until_epoch = NEVER;
        self.expiration_frame = NEVER;
    }

    fn reset_with_orig(&mut self) {
        if !self.active || self.unknown {
            self.reset();
            return;
        }
        let kept = self.replacement.0;
        self.reset();
        self.original_contents.push(kept);
    }

    fn tentative(&self, confirmed_epoch: u64) -> bool {
        self.tentative_until_epoch > confirmed_epoch
    }

    fn validity<S: Screen<Rendition = R>>(
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
struct CursorPrediction {
    row: usize,
    col: usize,
    active: bool,
    tentative_until_epoch: u64,
    expiration_frame: u64,
    prediction_time: Instant,
    /// A guess of where Up/Down moves the cursor; never moved by later keys (MoshKit's
    /// addition, see [`PredictionEngine::set_extensions`]).
    vertical: bool,
}

impl CursorPrediction {
    fn validity<S: Screen>(&self, s: &S, late_acked: u64) -> Validity {
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

/// The prediction engine. Feed it the user's bytes and the transport's progress; ask it what to
/// draw.
#[derive(Debug)]
pub struct PredictionEngine<R> {
    preference: DisplayPreference,
    overwrite: bool,
    rows: BTreeMap<usize, Vec<CellPrediction<R>>>,
    cursors: Vec<CursorPrediction>,
    prediction_epoch: u64,
    confirmed_epoch: u64,
    flagging: bool,
    srtt_trigger: bool,
    glitch_trigger: u32,
    last_quick_confirmation: Option<Instant>,
    local_frame_sent: u64,
    local_frame_acked: u64,
    local_frame_late_acked: u64,
    screen_acked: u64,
    send_interval: Duration,
    last_size: (usize, usize),
    parser: InputParser,
    last_byte: u8,
    blank_rendition: R,
    /// MoshKit's additions to upstream's rules (see [`PredictionEngine::set_extensions`]).
    extensions: bool,
    /// Row prefixes (the prompt left of the cursor) after which typed characters have echoed.
    learned_prompts: Vec<Vec<Glyph>>,
    /// The prompt in front of the first character predicted on a fresh line: (epoch, row,
    /// column, prompt), learned once that character is confirmed.
    pending_prompt: Option<(u64, usize, usize, Vec<Glyph>)>,
    /// The user-stream state that carries the newest typed byte.
    last_input_frame: u64,
    /// The state carrying the newest unpredictable key.
    stale_until_frame: u64,
    /// The epoch that key started: guesses from earlier epochs were made before it.
    stale_epoch: u64,
    /// Bytes typed since the newest unpredictable key while the screen was stale, with the
    /// state that carries each and when it was typed: predicted again from the current screen
    /// once the server has processed that key.
    replay: Vec<(u64, Instant, u8)>,
    /// More than [`REPLAY_MAX`] bytes were typed since the newest unpredictable key.
    replay_overflow: bool,
    /// Up/Down have been seen to move the cursor one row, as in an editor: they stay in the
    /// current epoch. Forgotten at any other unpredictable key and at every reset.
    vertical_learned: bool,
    /// The first of the epochs since the last confirmed one, if all were started by Up/Down.
    vertical_chain: Option<u64>,
    /// The column Up/Down aim for (editors keep it across shorter lines).
    goal_col: Option<usize>,
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

    /// The row's glyphs left of `col`, if nothing but blanks follows: a candidate prompt.
    fn prompt_at<S: Screen<Rendition = R>>(s: &S, row: usize, col: usize) -> Option<Vec<Glyph>> {
        if row >= s.rows() || col == 0 || col >= s.cols() {
            return None;
        }
        if (col..s.cols()).any(|c| s.glyph(row, c) != Glyph::Blank) {
            return None;
        }
        Some((0..col).map(|c| s.glyph(row, c)).collect())
    }

    /// Prompt learning, before the first character predicted on a line started from the
    /// server's own cursor: reveal the epoch at a learned prompt, and remember this prompt so it
    /// can be learned once the character echoes.
    fn fresh_line<S: Screen<Rendition = R>>(&mut self, s: &S) {
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

    fn learn_prompt(&mut self, epoch: u64, row: usize, col: usize) {
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
    fn unpredictable_key(&mut self) {
        self.become_tentative();
        self.vertical_learned = false;
        self.mark_stale();
    }

    /// The key just handled (after its new epoch began) may change the screen unpredictably:
    /// the keys typed from now on are logged for re-prediction.
    fn mark_stale(&mut self) {
        self.replay.clear();
        self.replay_overflow = false;
        self.stale_until_frame = self.stale_until_frame.max(self.local_frame_sent + 1);
        self.stale_epoch = self.prediction_epoch;
    }

    /// Whether the remote screen has yet to show the effect of an unpredictable key: content
    /// copied from it may be about to change (MoshKit's addition, see [`PredictionEngine`]).
    fn screen_stale(&self) -> bool {
        self.extensions && self.local_frame_late_acked < self.stale_until_frame
    }

    fn become_tentative(&mut self) {
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
            self.reset();
            return;
        }
        for &b in bytes {
            self.new_user_byte(b, s, now);
        }
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

    fn handle_action<S: Screen<Rendition = R>>(&mut self, action: Action, s: &S, now: Instant) {
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

    /// Up/Down (MoshKit's addition; upstream starts a new epoch and predicts nothing). A shell
    /// recalls history, an editor moves the cursor: guess the editor's move (one row, towards
    /// the goal column, clamped to the end of the target line's text). Until such a guess has
    /// been confirmed the key starts a new epoch as upstream's does, so typing after it is only
    /// placed right once revealed; once confirmed, Up/Down stay in the current epoch and the
    /// cursor and typing after them are shown at once.
    fn vertical_move<S: Screen<Rendition = R>>(&mut self, up: bool, s: &S, now: Instant) {
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

    /// A cell as predicted (the remote cell where nothing known is predicted).
    fn predicted_glyph<S: Screen<Rendition = R>>(&self, s: &S, row: usize, col: usize) -> Glyph {
        match self.rows.get(&row).and_then(|cells| cells.get(col)) {
            Some(c) if c.active && !c.unknown => c.replacement.0,
            _ => s.glyph(row, col),
        }
    }

    fn new_cursor(&self, row: usize, col: usize, now: Instant) -> CursorPrediction {
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

    fn init_cursor<S: Screen<Rendition = R>>(&mut self, s: &S, now: Instant) {
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

    fn cursor_pos(&self) -> (usize, usize) {
        self.cursors.last().map_or((0, 0), |c| (c.row, c.col))
    }

    fn expire_cursor(&mut self, now: Instant) {
        let frame = self.local_frame_sent + 1;
        if let Some(c) = self.cursors.last_mut() {
            c.expiration_frame = frame;
            c.prediction_time = now;
        }
    }

    fn row_mut(&mut self, row: usize, cols: usize, now: Instant) -> &mut Vec<CellPrediction<R>> {
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

    fn activate(c: &mut CellPrediction<R>, epoch: u64, frame: u64, now: Instant) {
        c.active = true;
        c.tentative_until_epoch = epoch;
        c.expiration_frame = frame;
        c.prediction_time = now;
    }

    fn predict_char<S: Screen<Rendition = R>>(&mut self, ch: char, s: &S, now: Instant) {
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

    fn predict_backspace<S: Screen<Rendition = R>>(&mut self, s: &S, now: Instant) {
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

    fn newline_carriage_return<S: Screen<Rendition = R>>(&mut self, s: &S, now: Instant) {
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

    fn kill_epoch<S: Screen<Rendition = R>>(&mut self, epoch: u64, s: &S, now: Instant) {
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
                        } else {
                            self.reset();
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
    fn replay_on_current_screen<S: Screen<Rendition = R>>(&mut self, s: &S) {
        let late = self.local_frame_late_acked.max(self.screen_acked);
        let replay = std::mem::take(&mut self.replay);
        if !replay.iter().any(|&(frame, _, _)| frame > late) {
            return;
        }
        self.rows.clear();
        self.cursors.clear();
        self.pending_prompt = None;
        let sent = self.local_frame_sent;
        // The log starts after a complete key, so a fresh parser is in step with it.
        let mut parser = InputParser(vte::Parser::new());
        for (frame, time, byte) in replay {
            let mut actions = Actions::default();
            parser.0.advance(&mut actions, &[byte]);
            if frame <= late {
                continue;
            }
            // Predictions expire at the state that carried the key, as when it was typed.
            self.local_frame_sent = frame - 1;
            for action in actions.0 {
                self.handle_action(action, s, time);
            }
        }
        self.local_frame_sent = sent;
    }

    fn reset_cell(&mut self, row: usize, col: usize) {
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
        for c in &self.cursors {
            if c.active
                && c.tentative_until_epoch <= self.confirmed_epoch
                && c.row < s.rows()
                && c.col < s.cols()
            {
                overlay.cursor = Some((c.row, c.col));
            }
        }
        let cols = s.cols();
        // The screen was sent after the server received an unpredictable key it has not
        // echo-acked yet: it shows that key's effect (an editor opened), so guesses from before
        // the key are not drawn over it (MoshKit's addition; they are judged as usual).
        let superseded_before =
            if self.screen_stale() && self.screen_acked >= self.stale_until_frame {
                self.stale_epoch
            } else {
                0
            };
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

/// Whether a row prefix looks like a shell's or a REPL's prompt: it ends in one of the usual
/// prompt characters and a space, and does not mention a password.
fn shell_prompt(prompt: &[Glyph]) -> bool {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Print(char),
    Execute(u8),
    CursorRight,
    CursorLeft,
    CursorUp,
    CursorDown,
    /// Any escape or other CSI dispatch: starts a new epoch.
    Tentative,
}

/// The engine's own parser of the user's input bytes.
struct InputParser(vte::Parser);

impl fmt::Debug for InputParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InputParser")
    }
}

#[derive(Default)]
struct Actions(Vec<Action>);

impl vte::Perform for Actions {
    fn print(&mut self, c: char) {
        self.0.push(Action::Print(c));
    }
    fn execute(&mut self, byte: u8) {
        self.0.push(Action::Execute(byte));
    }
    fn csi_dispatch(&mut self, _: &vte::Params, intermediates: &[u8], _: bool, action: char) {
        self.0.push(match (intermediates, action) {
            ([], 'C') => Action::CursorRight,
            ([], 'D') => Action::CursorLeft,
            ([], 'A') => Action::CursorUp,
            ([], 'B') => Action::CursorDown,
            _ => Action::Tentative,
        });
    }
    fn esc_dispatch(&mut self, _: &[u8], _: bool, _: u8) {
        self.0.push(Action::Tentative);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain text screen with a cursor, for driving the engine.
    #[derive(Clone)]
    struct Fake {
        cols: usize,
        rows: Vec<Vec<char>>,
        cursor: (usize, usize),
    }

    impl Fake {
        fn new(cols: usize, rows: usize) -> Self {
            Fake {
                cols,
                rows: vec![vec![' '; cols]; rows],
                cursor: (0, 0),
            }
        }
        /// The host echoes `text` at the cursor.
        fn echo(&mut self, text: &str) {
            for ch in text.chars() {
                let (r, c) = self.cursor;
                self.rows[r][c] = ch;
                self.cursor.1 = (c + 1).min(self.cols - 1);
            }
        }
    }

    impl Screen for Fake {
        type Rendition = u8;
        fn cols(&self) -> usize {
            self.cols
        }
        fn rows(&self) -> usize {
            self.rows.len()
        }
        fn cursor(&self) -> (usize, usize) {
            self.cursor
        }
        fn glyph(&self, row: usize, col: usize) -> Glyph {
            match self.rows[row][col] {
                ' ' => Glyph::Blank,
                c => Glyph::Char(c),
            }
        }
        fn rendition(&self, _: usize, _: usize) -> u8 {
            0
        }
        fn drawing_rendition(&self) -> u8 {
            0
        }
    }

    fn shown(overlay: &PredictionOverlay<u8>) -> String {
        overlay
            .cells
            .iter()
            .filter_map(|c| match c.replacement {
                Some((Glyph::Char(ch), _)) => Some(ch),
                _ => None,
            })
            .collect()
    }

    fn slow_engine(pref: DisplayPreference) -> PredictionEngine<u8> {
        let mut e = PredictionEngine::new(pref, false, 0);
        e.set_send_interval(Duration::from_millis(250));
        e
    }

    /// Type `$`, have the server echo and acknowledge it: the current epoch is confirmed, as
    /// after the first echoed keystroke of a session. Later state numbers start at 2.
    fn confirm_epoch(e: &mut PredictionEngine<u8>, s: &mut Fake, t: Instant) {
        e.set_local_frame_sent(1);
        e.new_user_input(b"$", s, t);
        s.echo("$");
        e.set_local_frame_late_acked(2);
        e.set_local_frame_sent(2);
        e.cull(s, t);
        assert!(!e.active());
    }

    #[test]
    fn first_keystroke_waits_for_a_confirmed_epoch() {
        let t = Instant::now();
        let mut s = Fake::new(20, 4);
        let mut e = slow_engine(DisplayPreference::Always);
        e.new_user_input(b"a", &s, t);
        e.cull(&s, t);
        assert!(
            e.apply(&s).cells.is_empty(),
            "nothing confirmed yet: tentative"
        );
        s.echo("a");
        e.set_local_frame_late_acked(1);
        e.set_local_frame_sent(1);
        e.cull(&s, t);
        e.new_user_input(b"b", &s, t);
        e.cull(&s, t);
        assert_eq!(shown(&e.apply(&s)), "b");
    }

    #[test]
    fn typing_is_shown_at_once_on_a_slow_link_and_underlined() {
        let t = Instant::now();
        let mut s = Fake::new(20, 4);
        let mut e = slow_engine(DisplayPreference::Always);
        confirm_epoch(&mut e, &mut s, t);
        s.echo(" ");
        e.new_user_input(b"ls", &s, t);
        e.cull(&s, t);
        let o = e.apply(&s);
        assert_eq!(shown(&o), "ls");
        assert!(o.cells.iter().all(|c| c.underline), "slow link: underlined");
        assert_eq!(o.cursor, Some((0, 4)), "after \"$ ls\"");
    }

    #[test]
    fn adaptive_hides_on_fast_links_and_shows_on_slow_ones() {
        let t = Instant::now();
        let mut s = Fake::new(20, 4);
        let mut e = PredictionEngine::new(DisplayPreference::Adaptive, false, 0u8);
        e.set_send_interval(Duration::from_millis(20));
        confirm_epoch(&mut e, &mut s, t);
        e.new_user_input(b"a", &s, t);
        e.cull(&s, t);
        assert!(e.apply(&s).cells.is_empty());
        e.set_send_interval(Duration::from_millis(40));
        e.cull(&s, t);
        let o = e.apply(&s);
        assert_eq!(shown(&o), "a");
        assert!(
            !o.cells[0].underline,
            "40 ms interval: shown but not underlined"
        );
    }

    #[test]
    fn never_predicts_nothing() {
        let t = Instant::now();
        let s = Fake::new(20, 4);
        let mut e = slow_engine(DisplayPreference::Never);
        e.new_user_input(b"abc", &s, t);
        e.cull(&s, t);
        assert!(!e.active());
        assert_eq!(e.apply(&s), PredictionOverlay::default());
    }

    #[test]
    fn confirmed_echo_clears_predictions() {
        let t = Instant::now();
        let mut s = Fake::new(20, 4);
        let mut e = slow_engine(DisplayPreference::Always);
        confirm_epoch(&mut e, &mut s, t);
        e.new_user_input(b"hi", &s, t);
        assert!(e.active());
        // The server echoes and acknowledges state 3 (the one carrying "hi").
        s.echo("hi");
        e.set_local_frame_late_acked(3);
        e.cull(&s, t + Duration::from_millis(100));
        assert!(!e.active(), "confirmed predictions are retired");
        assert!(e.apply(&s).cells.is_empty());
    }

    #[test]
    fn wrong_guess_is_removed_once_the_echo_window_passes() {
        // A password prompt: the host does not echo.
        let t = Instant::now();
        let mut s = Fake::new(20, 4);
        let mut e = slow_engine(DisplayPreference::Always);
        confirm_epoch(&mut e, &mut s, t);
        e.new_user_input(b"secret", &s, t);
        e.cull(&s, t);
        assert_eq!(shown(&e.apply(&s)), "secret");
        e.set_local_frame_late_acked(3);
        e.cull(&s, t + Duration::from_millis(300));
        assert!(e.apply(&s).cells.is_empty(), "wrong guesses are gone");
    }

    #[test]
    fn control_characters_make_later_guesses_tentative() {
        let t = Instant::now();
        let mut s = Fake::new(20, 4);
        let mut e = slow_engine(DisplayPreference::Always);
        confirm_epoch(&mut e, &mut s, t);
        // Ctrl-A (unpredictable) then "x": hidden until the new epoch is confirmed.
        e.new_user_input(b"\x01x", &s, t);
        e.cull(&s, t);
        assert!(e.apply(&s).cells.is_empty());
        // The server echoes "x": that confirms the epoch; later guesses in it show at once.
        s.echo("x");
        e.set_local_frame_late_acked(3);
        e.cull(&s, t);
        e.set_local_frame_sent(3);
        e.new_user_input(b"y", &s, t);
        e.cull(&s, t);
        assert_eq!(shown(&e.apply(&s)), "y");
    }

    #[test]
    fn backspace_and_arrows_move_the_predicted_cursor() {
        let t = Instant::now();
        let mut s = Fake::new(20, 4);
        let mut e = slow_engine(DisplayPreference::Always);
        confirm_epoch(&mut e, &mut s, t);
        s.echo("b");
        e.new_user_input(b"\x7f", &s, t);
        e.cull(&s, t);
        let o = e.apply(&s);
        assert_eq!(o.cursor, Some((0, 1)));
        // The deleted "b" is predicted blank (the row shifts left).
        assert!(
            o.cells
                .iter()
                .any(|c| c.col == 1 && c.replacement.map(|r| r.0) == Some(Glyph::Blank))
        );
        e.new_user_input(b"\x1bOD", &s, t);
        e.cull(&s, t);
        assert_eq!(e.apply(&s).cursor, Some((0, 0)));
        e.new_user_input(b"\x1b[C", &s, t);
        e.cull(&s, t);
        assert_eq!(e.apply(&s).cursor, Some((0, 1)));
    }

    #[test]
    fn insertion_mid_line_shifts_the_rest_right() {
        let t = Instant::now();
        let mut s = Fake::new(10, 2);
        let mut e = slow_engine(DisplayPreference::Always);
        confirm_epoch(&mut e, &mut s, t);
        s.echo("bc");
        s.cursor = (0, 1);
        e.new_user_input(b"X", &s, t);
        e.cull(&s, t);
        let o = e.apply(&s);
        let at = |col| {
            o.cells
                .iter()
                .find(|c| c.col == col)
                .and_then(|c| c.replacement)
                .map(|r| r.0)
        };
        // Screen "$bc" with the cursor on "b": "X" goes in, "bc" moves right.
        assert_eq!(at(1), Some(Glyph::Char('X')));
        assert_eq!(at(2), Some(Glyph::Char('b')));
        assert_eq!(at(3), Some(Glyph::Char('c')));
    }

    #[test]
    fn carriage_return_predicts_next_line_in_a_new_epoch() {
        let t = Instant::now();
        let mut s = Fake::new(10, 3);
        let mut e = slow_engine(DisplayPreference::Always);
        confirm_epoch(&mut e, &mut s, t);
        e.new_user_input(b"a\r", &s, t);
        e.cull(&s, t);
        // "a" is shown; the cursor move after CR belongs to a new (unconfirmed) epoch.
        let o = e.apply(&s);
        assert_eq!(shown(&o), "a");
        assert_eq!(o.cursor, Some((0, 2)));
    }

    #[test]
    fn paste_and_resize_reset() {
        let t = Instant::now();
        let s = Fake::new(10, 3);
        let mut e = slow_engine(DisplayPreference::Always);
        e.new_user_input(&[b'a'; 101], &s, t);
        assert!(!e.active());
        e.new_user_input(b"a", &s, t);
        assert!(e.active());
        let bigger = Fake::new(12, 3);
        e.cull(&bigger, t);
        assert!(!e.active());
    }

    #[test]
    fn long_pending_prediction_triggers_glitch_display_and_flagging() {
        let t = Instant::now();
        let s = Fake::new(10, 3);
        let mut e = PredictionEngine::new(DisplayPreference::Adaptive, false, 0u8);
        e.set_send_interval(Duration::from_millis(20));
        e.new_user_input(b"a", &s, t);
        e.cull(&s, t);
        assert!(!e.displaying());
        e.cull(&s, t + GLITCH_THRESHOLD);
        assert!(e.displaying(), "a 250 ms glitch shows predictions");
        assert!(!e.flagging());
        e.cull(&s, t + GLITCH_FLAG_THRESHOLD);
        e.cull(&s, t + GLITCH_FLAG_THRESHOLD);
        assert!(e.flagging(), "a 5 s glitch underlines");
        assert_eq!(e.wait_time(), None);
    }

    #[test]
    fn a_typed_space_over_text_confirms_its_epoch() {
        for extensions in [true, false] {
            let t = Instant::now();
            let mut s = Fake::new(10, 2);
            // Overwrite mode: nothing shifts, so only the space itself can confirm.
            let mut e = PredictionEngine::new(DisplayPreference::Always, true, 0);
            e.set_send_interval(Duration::from_millis(250));
            e.set_extensions(extensions);
            confirm_epoch(&mut e, &mut s, t);
            s.echo("abc");
            s.cursor = (0, 1);
            // An unpredictable key, then a space typed over "a": hidden for now.
            e.set_local_frame_sent(3);
            e.new_user_input(b"\x01 ", &s, t);
            e.cull(&s, t);
            assert!(e.apply(&s).cells.is_empty());
            // The host echoes it: "$ bc". Over text, a blank is an echo.
            s.rows[0] = "$ bc      ".chars().collect();
            s.cursor = (0, 2);
            e.set_local_frame_late_acked(4);
            e.cull(&s, t);
            e.set_local_frame_sent(4);
            e.new_user_input(b"x", &s, t);
            e.cull(&s, t);
            let expected = if extensions { "x" } else { "" };
            assert_eq!(shown(&e.apply(&s)), expected, "extensions {extensions}");
        }
    }

    #[test]
    fn shell_prompts_are_recognised_and_password_prompts_are_not() {
        let glyphs = |text: &str| -> Vec<Glyph> {
            text.chars()
                .map(|c| {
                    if c == ' ' {
                        Glyph::Blank
                    } else {
                        Glyph::Char(c)
                    }
                })
                .collect()
        };
        for prompt in [
            "$ ",
            "user@host:~/src$ ",
            "root# ",
            "% ",
            ">>> ",
            "mysql> ",
            "❯ ",
        ] {
            assert!(shell_prompt(&glyphs(prompt)), "{prompt:?}");
        }
        for prompt in [
            "Password: ",
            "Password> ",
            "Enter passphrase $ ",
            "$",
            "name: ",
            "> x",
        ] {
            assert!(!shell_prompt(&glyphs(prompt)), "{prompt:?}");
        }
    }

    #[test]
    fn unparseable_input_never_panics() {
        let t = Instant::now();
        let s = Fake::new(3, 2);
        let mut e = slow_engine(DisplayPreference::Experimental);
        let junk: Vec<u8> = (0..=255u8)
            .chain(b"\x1b[999;999H\xe4\xb8\xad\x7f\x7f\x7f".iter().copied())
            .collect();
        for chunk in junk.chunks(7) {
            e.new_user_input(chunk, &s, t);
            e.cull(&s, t);
            let _ = e.apply(&s);
        }
    }
}
