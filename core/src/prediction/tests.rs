use std::time::{Duration, Instant};

use super::extensions::shell_prompt;
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
