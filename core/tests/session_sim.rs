//! Scenario tests of the client session in simulated time (issue: client session, point 4): a
//! client and a host session joined by the simulated network at 50, 200 and 500 ms RTT, with a
//! shell-like line editor as the application.
#![allow(clippy::unwrap_used)]

mod support {
    pub mod netsim;
    pub mod session_sim;
}

use moshkit_core::prediction::DisplayPreference;
use moshkit_core::session::{ClientEvent, ConnectionState};
use support::session_sim::SessionSim;

/// Type one character and wait for its echo, so the prediction epoch is confirmed (as after the
/// first echoed keystroke of a real session).
fn warm_up(sim: &mut SessionSim, rtt: u64) {
    sim.type_bytes(b"x");
    sim.run_for(rtt * 3 + 200);
    sim.type_bytes(b"\x7f");
    sim.run_for(rtt * 3 + 200);
    assert_eq!(sim.screen()[0], "$");
}

#[test]
fn session_shows_the_prompt_and_runs_a_command() {
    let mut sim = SessionSim::new(1, 100, 0.0, DisplayPreference::Adaptive);
    sim.connect();
    sim.type_bytes(b"echo hello\r");
    sim.run_for(1000);
    let screen = sim.screen();
    assert_eq!(screen[0], "$ echo hello");
    assert_eq!(screen[1], "hello");
    assert_eq!(screen[2], "$");
    assert_eq!(sim.shell.commands, vec!["echo hello"]);
    assert_eq!(
        sim.screen(),
        sim.host_screen()
            .iter()
            .map(|r| r.trim_end().to_owned())
            .collect::<Vec<_>>()
    );
}

#[test]
fn typing_shows_before_the_echo_on_slow_links() {
    for rtt in [200, 500] {
        let mut sim = SessionSim::new(2, rtt, 0.0, DisplayPreference::Adaptive);
        sim.connect();
        warm_up(&mut sim, rtt);
        sim.type_bytes(b"ls");
        // Well before a round trip: the characters are already shown, as predictions.
        sim.run_for(5);
        assert_eq!(sim.screen()[0], "$ ls", "rtt {rtt}");
        let predicted = sim.predicted_cells();
        assert_eq!(predicted.len(), 2, "rtt {rtt}: {predicted:?}");
        assert!(
            sim.host_screen()[0].trim_end() == "$",
            "the host has not echoed yet"
        );
        // After the echo arrives the cells are confirmed: no longer predictions.
        sim.run_for(rtt * 2 + 100);
        assert_eq!(sim.screen()[0], "$ ls");
        assert!(sim.predicted_cells().is_empty(), "rtt {rtt}");
    }
}

#[test]
fn fast_links_do_not_display_predictions_in_adaptive_mode() {
    let rtt = 50;
    let mut sim = SessionSim::new(3, rtt, 0.0, DisplayPreference::Adaptive);
    sim.connect();
    warm_up(&mut sim, rtt);
    sim.type_bytes(b"ls");
    sim.run_for(5);
    assert!(
        sim.predicted_cells().is_empty(),
        "SRTT 50 ms: below the trigger"
    );
    assert_eq!(sim.screen()[0], "$");
    sim.run_for(200);
    assert_eq!(sim.screen()[0], "$ ls");
    // "always" shows them at any speed.
    let mut sim = SessionSim::new(3, rtt, 0.0, DisplayPreference::Always);
    sim.connect();
    warm_up(&mut sim, rtt);
    sim.type_bytes(b"ls");
    sim.run_for(5);
    assert_eq!(sim.screen()[0], "$ ls");
}

#[test]
fn underline_follows_upstream_thresholds() {
    // Send interval = SRTT/2: > 80 ms underlines (SRTT > 160), <= 50 ms does not.
    for (rtt, underlined) in [(50, false), (200, true), (500, true)] {
        let mut sim = SessionSim::new(4, rtt, 0.0, DisplayPreference::Always);
        sim.connect();
        warm_up(&mut sim, rtt);
        sim.type_bytes(b"ab");
        sim.run_for(2);
        let cells = sim.predicted_cells();
        assert_eq!(cells.len(), 2, "rtt {rtt}");
        assert!(
            cells.iter().all(|c| c.3 == underlined),
            "rtt {rtt}: {cells:?}"
        );
    }
}

#[test]
fn wrong_guess_at_a_password_prompt_is_removed_within_a_round_trip() {
    for rtt in [50, 200, 500] {
        for mode in [DisplayPreference::Always, DisplayPreference::Experimental] {
            let mut sim = SessionSim::new(5, rtt, 0.0, mode);
            sim.connect();
            warm_up(&mut sim, rtt);
            sim.type_bytes(b"sudo\r");
            sim.run_for(rtt * 3 + 300);
            assert_eq!(sim.screen()[1], "Password:", "rtt {rtt}");
            sim.type_bytes(b"s");
            sim.run_for(1);
            let shown = sim.screen()[1].clone();
            if mode == DisplayPreference::Experimental {
                // Experimental shows every guess at once: here a wrong one.
                assert_eq!(shown, "Password: s", "rtt {rtt}");
            } else {
                // Upstream's epochs: after Enter nothing is shown until an echo confirms.
                assert_eq!(shown, "Password:", "rtt {rtt}");
            }
            // Gone once the server's echo ack for it arrives: a round trip, the 50 ms echo
            // window and one frame interval.
            sim.run_for(rtt + 50 + rtt / 2 + 20);
            assert_eq!(sim.screen()[1], "Password:", "rtt {rtt} {mode:?}");
            assert!(sim.predicted_cells().is_empty(), "rtt {rtt} {mode:?}");
        }
    }
}

#[test]
fn notification_bar_counts_up_during_a_blackout_and_clears_after() {
    let rtt = 200;
    let mut sim = SessionSim::new(6, rtt, 0.0, DisplayPreference::Adaptive);
    sim.connect();
    let start = sim.now;
    sim.net.blackout = Some((start, start + 20_000));
    sim.run_for(5_000);
    assert!(sim.client.notification(sim.t()).is_none(), "not late yet");
    sim.run_for(5_000);
    let bar = sim.client.notification(sim.t()).expect("late after 10 s");
    assert!(
        bar.text.starts_with("mosh: Last contact ")
            && bar.text.ends_with(" ago. [To quit: Ctrl-^ .]"),
        "{}",
        bar.text
    );
    assert!(
        sim.screen()[0].starts_with("mosh: Last contact"),
        "drawn over row 0"
    );
    assert!(matches!(
        sim.client.connection_state(sim.t()),
        ConnectionState::Silent { .. }
    ));
    sim.run_for(15_000);
    assert!(
        sim.client.notification(sim.t()).is_none(),
        "cleared after contact"
    );
    assert_eq!(sim.screen()[0], "$");
    assert_eq!(
        sim.client.connection_state(sim.t()),
        ConnectionState::Connected
    );
    assert!(sim.client_events.iter().any(|(_, e)| matches!(
        e,
        ClientEvent::ConnectionState(ConnectionState::Silent { .. })
    )));
}

#[test]
fn resize_reaches_the_host_and_paste_is_bracketed_when_asked() {
    let mut sim = SessionSim::new(7, 100, 0.0, DisplayPreference::Adaptive);
    sim.connect();
    let now = sim.t();
    sim.client.resize(now, 100, 30);
    sim.run_for(1000);
    let fb = sim.host.state().framebuffer();
    assert_eq!((fb.width(), fb.height()), (100, 30));
    let update = sim.client.snapshot(sim.t());
    assert_eq!((update.cols, update.rows), (100, 30));
    // The application enables bracketed paste; a paste arrives wrapped.
    let now = sim.t();
    sim.host.host_output(now, b"\x1b[?2004h");
    sim.run_for(1000);
    let now = sim.t();
    sim.client.paste(now, "pasted\x1b[201~text");
    sim.run_for(1000);
    // The application got the paste wrapped once, with the embedded end marker removed.
    let got = String::from_utf8_lossy(&sim.shell.received).into_owned();
    assert!(got.ends_with("\x1b[200~pastedtext\x1b[201~"), "{got:?}");
    // Without mode 2004, a paste is sent as is.
    let now = sim.t();
    sim.host.host_output(now, b"\x1b[?2004l");
    sim.run_for(1000);
    let now = sim.t();
    sim.client.paste(now, "plain");
    sim.run_for(1000);
    let got = String::from_utf8_lossy(&sim.shell.received).into_owned();
    assert!(got.ends_with("[201~plain"), "{got:?}");
}

#[test]
fn pull_changes_reports_only_changed_rows() {
    let mut sim = SessionSim::new(8, 100, 0.0, DisplayPreference::Never);
    sim.connect();
    let first = sim.client.pull_changes(sim.t());
    assert!(first.full);
    assert_eq!(first.changed_rows.len(), 24);
    let again = sim.client.pull_changes(sim.t());
    assert!(!again.full);
    assert!(again.changed_rows.is_empty());
    sim.type_bytes(b"echo hi\r");
    sim.run_for(1000);
    let update = sim.client.pull_changes(sim.t());
    let rows: Vec<u16> = update.changed_rows.iter().map(|r| r.index).collect();
    assert_eq!(rows, vec![0, 1, 2]);
    assert_eq!((update.cursor.row, update.cursor.col), (2, 2));
}

#[test]
fn display_frame_draws_predictions_and_the_bar_for_terminal_painting() {
    let rtt = 500;
    let mut sim = SessionSim::new(9, rtt, 0.0, DisplayPreference::Adaptive);
    sim.connect();
    warm_up(&mut sim, rtt);
    sim.type_bytes(b"ab");
    sim.run_for(2);
    let frame = sim.client.display_frame(sim.t());
    assert_eq!(frame.row_text(0).trim_end(), "$ ab");
    let cell = frame
        .cell(moshkit_core::terminal::Point { row: 0, col: 2 })
        .unwrap();
    assert!(
        cell.rendition()
            .attrs
            .contains(moshkit_core::terminal::Attrs::UNDERLINE),
        "slow link: predictions underlined"
    );
    assert_eq!(frame.cursor().col, 4);
    // The remote screen itself is untouched.
    assert_eq!(sim.client.remote_screen().row_text(0).trim_end(), "$");
    // During a blackout the bar is drawn over row 0.
    sim.run_for(3000);
    sim.net.blackout = Some((sim.now, sim.now + 30_000));
    sim.run_for(9000);
    let frame = sim.client.display_frame(sim.t());
    assert!(
        frame.row_text(0).starts_with("mosh: Last contact"),
        "{}",
        frame.row_text(0)
    );
    assert!(!frame.cursor_visible() || frame.cursor().row != 0);
}

#[test]
fn title_prefix_is_drawn_only_in_painted_frames() {
    use moshkit_core::session::ClientConfig;
    let config = ClientConfig {
        title_prefix: Some("[mosh] ".into()),
        ..ClientConfig::default()
    };
    let mut sim = SessionSim::with_config(10, 100, 0.0, config);
    sim.connect();
    assert_eq!(
        sim.client.display_frame(sim.t()).title(),
        "",
        "no title set yet"
    );
    let now = sim.t();
    sim.host.host_output(now, b"\x1b]2;T\x07");
    sim.run_for(1000);
    let frame = sim.client.display_frame(sim.t());
    assert_eq!(frame.title(), "[mosh] T");
    assert_eq!(
        frame.icon_name(),
        "",
        "icon name differs from the title: untouched"
    );
    assert_eq!(sim.client.remote_screen().title(), "T");
    assert_eq!(
        sim.client.snapshot(sim.t()).title,
        "T",
        "apps get the bare title"
    );
}

// MoshKit's additions to upstream's prediction rules (docs/prediction.md).

/// A session at `rtt` with the prediction extensions on or off, connected and warmed up.
fn slow_session(seed: u64, rtt: u64, extensions: bool) -> SessionSim {
    use moshkit_core::session::ClientConfig;
    let config = ClientConfig {
        prediction: DisplayPreference::Adaptive,
        prediction_extensions: extensions,
        ..ClientConfig::default()
    };
    let mut sim = SessionSim::with_config(seed, rtt, 0.0, config);
    sim.connect();
    sim
}

/// Type `text` one key every `gap` ms.
fn type_slowly(sim: &mut SessionSim, keys: &[&[u8]], gap: u64) {
    for key in keys {
        sim.type_bytes(key);
        sim.run_for(gap);
    }
}

#[test]
fn the_first_command_at_a_shell_prompt_is_shown_at_once() {
    for extensions in [true, false] {
        let mut sim = slow_session(11, 500, extensions);
        sim.type_bytes(b"ls");
        sim.run_for(5);
        let expected = if extensions { "$ ls" } else { "$" };
        assert_eq!(sim.screen()[0], expected, "extensions {extensions}");
        sim.run_for(1500);
        assert_eq!(sim.screen()[0], "$ ls");
    }
}

#[test]
fn a_learned_prompt_reveals_typing_but_a_password_prompt_does_not() {
    let rtt = 500;
    let mut sim = slow_session(12, rtt, true);
    warm_up(&mut sim, rtt);
    sim.type_bytes(b"echo hi\r");
    sim.run_for(2000);
    assert_eq!(sim.screen()[2], "$");
    sim.type_bytes(b"pwd");
    sim.run_for(5);
    assert_eq!(sim.screen()[2], "$ pwd", "at the prompt: shown at once");
    sim.type_bytes(b"\r");
    sim.run_for(2000);
    sim.type_bytes(b"sudo\r");
    sim.run_for(2000);
    assert_eq!(sim.screen()[5], "Password:");
    for key in [b"h", b"u", b"n"] {
        sim.type_bytes(key);
        for _ in 0..150 {
            sim.run_for(1);
            assert_eq!(sim.screen()[5], "Password:", "never shown");
        }
    }
}

/// The texts the client showed in rows 0..4 that the host's row never had, sampled each
/// millisecond while `keys` are typed and for 3 s after.
fn rows_the_host_never_had(sim: &mut SessionSim, keys: &[&[u8]], gap: u64) -> Vec<String> {
    let mut host_rows: Vec<std::collections::HashSet<String>> = vec![Default::default(); 4];
    let mut client_rows: Vec<std::collections::HashSet<String>> = vec![Default::default(); 4];
    let mut sample = |sim: &mut SessionSim| {
        for (r, text) in sim.host_screen().iter().take(4).enumerate() {
            host_rows[r].insert(text.trim_end().to_owned());
        }
        for (r, text) in sim.screen().iter().take(4).enumerate() {
            client_rows[r].insert(text.clone());
        }
    };
    for key in keys {
        sim.type_bytes(key);
        for _ in 0..gap {
            sim.run_for(1);
            sample(sim);
        }
    }
    for _ in 0..3000 {
        sim.run_for(1);
        sample(sim);
    }
    (0..4)
        .flat_map(|r| client_rows[r].difference(&host_rows[r]).cloned())
        .collect()
}

#[test]
fn typing_after_enter_in_an_editor_is_predicted_again_from_the_redrawn_screen() {
    // Enter in an editor splits the line and redraws: keys typed before the redraw arrives were
    // predicted on the old screen. Upstream keeps those guesses (the rest of the line shows as
    // blanks or shifted stale text); MoshKit predicts them again from the redrawn screen.
    for extensions in [true, false] {
        let mut sim = slow_session(13, 500, extensions);
        warm_up(&mut sim, 500);
        sim.type_bytes(b"edit\r");
        sim.run_for(2000);
        assert_eq!(sim.screen()[1], "    println!(\"hello\");");
        type_slowly(&mut sim, &[b"a", b"b"], 150);
        sim.run_for(1500);
        let keys: &[&[u8]] = &[b"\r", b" ", b" ", b"c", b"d", b"e", b"f", b"g", b"h"];
        let strays = rows_the_host_never_had(&mut sim, keys, 120);
        assert_eq!(
            strays.is_empty(),
            extensions,
            "extensions {extensions}: {strays:?}"
        );
        assert_eq!(sim.screen()[2], "  cdefghprintln!(\"hello\");");
    }
}

#[test]
fn up_and_down_are_learned_in_an_editor_and_not_at_a_shell_prompt() {
    let rtt = 500;
    let mut sim = slow_session(14, rtt, true);
    warm_up(&mut sim, rtt);
    // At a shell prompt Up recalls history (here: nothing), it never moves to the row above.
    sim.type_bytes(b"echo hi\r");
    sim.run_for(2000);
    for _ in 0..2 {
        type_slowly(&mut sim, &[b"\x1bOA", b"x"], 100);
        for _ in 0..2000 {
            sim.run_for(1);
            assert_eq!(sim.screen()[1], "hi", "nothing typed over the output");
        }
        sim.type_bytes(b"\x7f");
        sim.run_for(2000);
    }
    assert_eq!(sim.screen()[2], "$");
    // In the editor: the first Down is hidden until the echo shows the cursor moved as guessed.
    sim.type_bytes(b"edit\r");
    sim.run_for(2000);
    type_slowly(&mut sim, &[b"a"], 2000);
    sim.type_bytes(b"\x1bOB");
    sim.run_for(5);
    let cursor = |sim: &mut SessionSim| {
        let c = sim.client.snapshot(sim.t()).cursor;
        (c.row, c.col)
    };
    assert_eq!(cursor(&mut sim), (1, 5), "first Down: not shown yet");
    sim.run_for(2000);
    assert_eq!(
        cursor(&mut sim),
        (2, 1),
        "the editor clamps to the short line"
    );
    // Learned: Up is shown at once, back at the goal column, and so is typing there.
    sim.type_bytes(b"\x1bOA");
    sim.run_for(5);
    assert_eq!(cursor(&mut sim), (1, 5));
    sim.type_bytes(b"z");
    sim.run_for(5);
    assert_eq!(sim.screen()[1], "    azprintln!(\"hello\");");
    sim.run_for(2000);
    assert_eq!(sim.screen()[1], "    azprintln!(\"hello\");");
    assert!(sim.predicted_cells().is_empty());
    // Leaving the editor forgets it: Up at the shell prompt is hidden again.
    sim.type_bytes(b"\x18");
    sim.run_for(2000);
    sim.type_bytes(b"\x1bOA");
    sim.run_for(5);
    assert_eq!(cursor(&mut sim), (0, 2));
}

#[test]
fn typing_after_leaving_an_editor_is_shown_at_once() {
    // Ctrl-X leaves the editor; the guesses typed before it are dropped and a cursor stands in
    // for the server's. Upstream judges that cursor with the next state the client sends, an
    // empty ack the server never echo-acks on its own, so the next command stayed hidden.
    let rtt = 250;
    let mut sim = slow_session(15, rtt, true);
    warm_up(&mut sim, rtt);
    sim.type_bytes(b"edit\r");
    sim.run_for(2000);
    type_slowly(&mut sim, &[b"a", b"b", b"c", b"\x18"], 120);
    sim.run_for(2000);
    assert_eq!(sim.screen()[0], "$");
    sim.type_bytes(b"ls");
    sim.run_for(5);
    assert_eq!(sim.screen()[0], "$ ls");
}

#[test]
fn typing_after_a_command_key_that_is_not_echoed_is_placed_right_and_shown_after_one_round_trip() {
    // vim's `i` is a printable key that switches mode instead of echoing: its guess is wrong.
    // Upstream then predicts later keys from the server's cursor, which is still behind the
    // keys in flight, so each guess lands one place off, is judged wrong in turn, and typing
    // stays hidden while the user keeps typing. MoshKit predicts the keys in flight again from
    // the screen that judged the guess (still hidden until one is echoed).
    let mut instant = [0, 0];
    for (i, extensions) in [true, false].into_iter().enumerate() {
        let mut sim = slow_session(16, 500, extensions);
        warm_up(&mut sim, 500);
        sim.type_bytes(b"vi\r");
        sim.run_for(2000);
        assert_eq!(sim.screen()[1], "    println!(\"hello\");");
        sim.type_bytes(b"i");
        sim.run_for(150);
        let text = "the quick brown fox jumps";
        let mut typed = String::new();
        let mut strays = Vec::new();
        for ch in text.chars() {
            sim.type_bytes(ch.to_string().as_bytes());
            typed.push(ch);
            sim.run_for(30);
            let want = format!("    {typed}println!(\"hello\");");
            if sim.screen()[1] == want {
                instant[i] += 1;
            }
            for _ in 0..120 {
                sim.run_for(1);
                let (client, host) = (sim.screen()[1].clone(), sim.host_screen()[1].clone());
                // Every row shown is one the host had or will have: a prefix of the text.
                let ok = (0..=text.len())
                    .any(|n| client == format!("    {}println!(\"hello\");", &text[..n]));
                if !ok {
                    strays.push((client, host));
                }
            }
        }
        sim.run_for(3000);
        assert_eq!(sim.screen()[1], format!("    {text}println!(\"hello\");"));
        assert_eq!(sim.screen()[23], "-- INSERT --");
        if extensions {
            assert!(strays.is_empty(), "{strays:?}");
        }
    }
    // 25 keys at 150 ms: those typed until the first of them is echoed (the wrong guess is
    // judged after one round trip, the next echo a key later) wait; the rest are instant.
    assert!(instant[0] >= 17, "with the extensions: {instant:?}");
    assert!(instant[1] * 3 < instant[0], "upstream's rules: {instant:?}");
}

#[test]
fn a_paste_at_a_confirmed_prompt_is_shown_at_once_and_nowhere_else() {
    let rtt = 500;
    for extensions in [true, false] {
        let mut sim = slow_session(17, rtt, extensions);
        warm_up(&mut sim, rtt);
        sim.type_bytes(b"echo hi\r");
        sim.run_for(2000);
        // One line that wraps onto the blank row below.
        let text = format!("echo {}", "p".repeat(100));
        let t = sim.t();
        sim.client.paste(t, &text);
        sim.run_for(5);
        let shown =
            sim.screen()[2] == format!("$ {}", &text[..78]) && sim.screen()[3] == text[78..];
        assert_eq!(
            shown,
            extensions,
            "extensions {extensions}: {:?}",
            &sim.screen()[2..4]
        );
        sim.run_for(2000);
        assert_eq!(sim.screen()[2], format!("$ {}", &text[..78]));
        assert_eq!(sim.screen()[3], text[78..]);
        if !extensions {
            continue;
        }
        sim.type_bytes(b"\r");
        sim.run_for(2000);
        // Several lines (a paste that runs commands) are not predicted.
        let t = sim.t();
        sim.client.paste(t, "echo one\recho two");
        sim.run_for(5);
        assert_eq!(
            sim.screen()[6],
            "$",
            "a multi-line paste is not shown early"
        );
        sim.run_for(2000);
        sim.type_bytes(b"\rsudo\r");
        sim.run_for(2000);
        let row = sim.screen().iter().rposition(|r| r == "Password:").unwrap();
        let t = sim.t();
        sim.client.paste(t, "hunter2-a-long-password");
        for _ in 0..700 {
            sim.run_for(1);
            assert_eq!(
                sim.screen()[row],
                "Password:",
                "never shown at a password prompt"
            );
        }
    }
}

#[test]
fn typing_right_after_output_arrives_never_moves_the_cursor_off_its_row() {
    // A command's output arrives; the user starts typing at once. From the moment the output
    // first shows, the cursor is drawn on the row where the new line is typed (the new prompt),
    // never on a row an earlier guess left behind.
    for seed in 0..6 {
        let rtt = 500;
        let mut sim = slow_session(30 + seed, rtt, true);
        warm_up(&mut sim, rtt);
        sim.type_bytes(b"echo out\r");
        let mut appeared = None;
        let mut rows = Vec::new();
        for ms in 0..4000u64 {
            sim.run_for(1);
            let screen = sim.screen();
            if appeared.is_none() && screen[1] == "out" {
                appeared = Some(ms);
            }
            if let Some(at) = appeared {
                // Keys typed quickly from 20 ms after the output showed.
                let k = ms - at;
                if k >= 20 && k < 20 + 5 * (90 + seed) && (k - 20) % (90 + seed) == 0 {
                    sim.type_bytes(b"x");
                }
                let now = sim.t();
                let cursor = sim.client.display_frame(now).cursor();
                rows.push((ms, cursor.row, screen[2].clone()));
            }
        }
        assert!(appeared.is_some(), "seed {seed}: no output");
        assert_eq!(sim.screen()[2], "$ xxxxx", "seed {seed}");
        let off: Vec<_> = rows.iter().filter(|(_, row, _)| *row != 2).collect();
        assert!(
            off.is_empty(),
            "seed {seed}: cursor off row 2: {:?}",
            &off[..off.len().min(5)]
        );
    }
}
