//! Property tests: the frame differ round trip (upstream's `-vv` self-check as a property)
//! and the emulator's structural invariants on random input.

#![allow(clippy::unwrap_used)]

use moshkit_core::display::new_frame;
use moshkit_core::terminal::{Framebuffer, Terminal};
use proptest::prelude::*;

/// One "interesting" piece of terminal output.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let n = || 0u16..30;
    prop_oneof![
        4 => "[ -~]{1,12}".prop_map(String::into_bytes),
        1 => prop::sample::select(vec![
            "\u{4e2d}", "\u{6587}\u{5b57}", "\u{1f600}", "e\u{301}", "\u{302}", "\u{a0}",
            "\u{fe0f}", "\u{200d}", "\u{ff21}", "\u{e9}\u{308}\u{323}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        2 => prop::sample::select(vec![
            "\r", "\n", "\x08", "\t", "\x07", "\r\n", "\x1bD", "\x1bE", "\x1bM", "\x1bH", "\x1b7",
            "\x1b8", "\x1b[4h", "\x1b[4l", "\x1b[?7l", "\x1b[?7h", "\x1b[?6h", "\x1b[?6l",
            "\x1b[?25l", "\x1b[?25h", "\x1b[?5h", "\x1b[?5l", "\x1b[?2004h", "\x1b[?1002h",
            "\x1b[?1000l", "\x1b[?1006h", "\x1b[?1004h", "\x1b[?1007h", "\x1b[?1049h",
            "\x1b[?1049l", "\x1b[?47h", "\x1b[?1047l", "\x1b[?1h", "\x1b[!p", "\x1b#8",
            "\x1b[3g", "\x1b[0m", "\x1b[1;3;4;5;7m", "\x1b[2;9m", "\x1b[8m", "\x1b[r",
            "\x1b]0;title\x07", "\x1b]1;icon\x07", "\x1b]2;win\x1b\\", "\x1b]52;c;aGk=\x07",
            "\x1b]8;;http://a/\x07", "\x1b]8;;\x07", "\x1b[?3h", "\x1bc", "\x1b[6n",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        3 => (prop::sample::select(vec!['A', 'B', 'C', 'D', 'G', 'd', 'J', 'K', 'X', '@', 'P',
                                         'L', 'M', 'S', 'T', 'I', 'Z', 'g']), n())
            .prop_map(|(c, k)| format!("\x1b[{k}{c}").into_bytes()),
        2 => (n(), n()).prop_map(|(r, c)| format!("\x1b[{r};{c}H").into_bytes()),
        1 => (n(), n()).prop_map(|(t, b)| format!("\x1b[{t};{b}r").into_bytes()),
        2 => (0u8..8, 0u16..256, 0u8..255, 0u8..255, 0u8..3).prop_map(|(a, c, g, b, kind)| {
            match kind {
                0 => format!("\x1b[{}m", [1, 2, 3, 4, 5, 7, 22, 27][a as usize]),
                1 => format!("\x1b[38;5;{c}m\x1b[{}m", 40 + a),
                _ => format!("\x1b[48;2;{c};{g};{b}m\x1b[9{a}m"),
            }
            .into_bytes()
        }),
        1 => prop::collection::vec(any::<u8>(), 1..6),
        1 => (250usize..262, 0u8..3).prop_map(|(n, k)| {
            let cmd = ["", "0", "2"][usize::from(k)];
            format!("\x1b]{cmd};{}\x07", "\u{e9}".repeat(n)).into_bytes()
        }),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(token(), 0..60).prop_map(|v| v.concat())
}

fn size() -> impl Strategy<Value = (usize, usize)> {
    (1usize..24, 1usize..10)
}

fn first_difference(a: &Framebuffer, b: &Framebuffer) -> String {
    if (a.width(), a.height()) != (b.width(), b.height()) {
        return "size".into();
    }
    for y in 0..a.height() {
        let (ra, rb) = (a.row(y).unwrap(), b.row(y).unwrap());
        for x in 0..a.width() {
            let (ca, cb) = (&ra.cells()[x], &rb.cells()[x]);
            let ta = a.cell_text(ca).to_string();
            let tb = b.cell_text(cb).to_string();
            if ta != tb
                || ca.rendition() != cb.rendition()
                || ca.is_wide() != cb.is_wide()
                || a.hyperlink(ca) != b.hyperlink(cb)
                || (x + 1 == a.width() && ra.wrapped() != rb.wrapped())
            {
                return format!(
                    "cell {y},{x}: {ta:?} {ca:?} wrapped {} vs {tb:?} {cb:?} wrapped {}",
                    ra.wrapped(),
                    rb.wrapped()
                );
            }
        }
    }
    format!(
        "state: rend {:?} vs {:?}; modes {:?} vs {:?}; title {:?} vs {:?}; clip {:?} vs {:?}; vis {} {}",
        a.rendition(),
        b.rendition(),
        a.modes(),
        b.modes(),
        a.title(),
        b.title(),
        a.clipboard(),
        b.clipboard(),
        a.cursor_visible(),
        b.cursor_visible()
    )
}

fn assert_same(replica: &Framebuffer, host: &Framebuffer, diff: &[u8]) {
    if !replica.eq_ignoring_bell(host) {
        eprintln!("{}", first_difference(host, replica));
        let rows = |f: &Framebuffer| (0..f.height()).map(|y| f.row_text(y)).collect::<Vec<_>>();
        panic!(
            "replica differs\nhost    {:?} cursor {:?}\nreplica {:?} cursor {:?}\ndiff {:?}",
            rows(host),
            host.cursor(),
            rows(replica),
            replica.cursor(),
            String::from_utf8_lossy(diff)
        );
    }
}

proptest! {
    /// For frames A and B (B reached from A by more output, possibly after a resize),
    /// applying new_frame(true, A, B) to a replica of A yields B.
    #[test]
    fn diff_round_trip(
        (w, h) in size(), a in stream(), b in stream(),
        resize in prop::option::of(size()), split in any::<prop::sample::Index>(),
    ) {
        let mut host = Terminal::new(w, h).unwrap();
        host.feed(&a);
        let fa = host.framebuffer().clone();

        // The client's replica is only ever built from diffs.
        let mut replica = Terminal::new(w, h).unwrap();
        let init = new_frame(false, replica.framebuffer(), &fa);
        replica.feed(&init);
        prop_assert!(replica.take_replies().is_empty());
        assert_same(replica.framebuffer(), &fa, &init);

        if let Some((w2, h2)) = resize {
            host.resize(w2, h2).unwrap();
        }
        // Feed B in two chunks to exercise split sequences.
        let cut = split.index(b.len() + 1);
        host.feed(&b[..cut]);
        host.feed(&b[cut..]);
        let fb = host.framebuffer().clone();
        let diff = new_frame(true, &fa, &fb);
        if (fb.width(), fb.height()) != (fa.width(), fa.height()) {
            replica.resize(fb.width(), fb.height()).unwrap();
        }
        replica.feed(&diff);
        assert_same(replica.framebuffer(), &fb, &diff);
        if fb.bell_count() != fa.bell_count() {
            prop_assert_eq!(diff.first(), Some(&0x07));
        }
        // Diffing a frame against itself is (nearly) empty and changes nothing.
        let same = new_frame(true, &fb, &fb);
        replica.feed(&same);
        assert_same(replica.framebuffer(), &fb, &same);
        prop_assert!(same.len() <= 16, "self-diff too long: {:?}", String::from_utf8_lossy(&same));
    }

    /// Unrelated frames of the same size.
    #[test]
    fn diff_between_unrelated_frames((w, h) in size(), a in stream(), b in stream()) {
        let mut ha = Terminal::new(w, h).unwrap();
        ha.feed(&a);
        let mut hb = Terminal::new(w, h).unwrap();
        hb.feed(&b);
        let mut replica = Terminal::new(w, h).unwrap();
        replica.feed(&new_frame(false, replica.framebuffer(), ha.framebuffer()));
        let diff = new_frame(true, ha.framebuffer(), hb.framebuffer());
        replica.feed(&diff);
        assert_same(replica.framebuffer(), hb.framebuffer(), &diff);
    }

    /// Any byte stream, in any chunking, leaves the framebuffer structurally sound.
    #[test]
    fn invariants_hold_on_random_bytes(
        (w, h) in size(),
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16),
    ) {
        let mut t = Terminal::new(w, h).unwrap();
        for c in &chunks {
            t.feed(c);
            if let Err(e) = t.framebuffer().check_invariants() {
                prop_assert!(false, "{}", e);
            }
        }
    }

    /// Interesting streams with resizes in between keep the invariants too.
    #[test]
    fn invariants_hold_on_sequences(
        (w, h) in size(), parts in prop::collection::vec((stream(), size()), 1..4),
    ) {
        let mut t = Terminal::new(w, h).unwrap();
        for (s, (w2, h2)) in &parts {
            t.feed(s);
            if let Err(e) = t.framebuffer().check_invariants() {
                prop_assert!(false, "{}", e);
            }
            t.resize(*w2, *h2).unwrap();
            if let Err(e) = t.framebuffer().check_invariants() {
                prop_assert!(false, "after resize: {}", e);
            }
        }
    }
}

proptest! {
    /// However the output is split into `feed` calls (byte by byte, or at random points),
    /// the screen is the same: the parser fast paths never change the meaning of the bytes.
    #[test]
    fn chunking_does_not_matter(
        (w, h) in size(), s in stream(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut whole = Terminal::new(w, h).unwrap();
        whole.feed(&s);
        let mut bytewise = Terminal::new(w, h).unwrap();
        for b in &s {
            bytewise.feed(std::slice::from_ref(b));
        }
        prop_assert!(whole.framebuffer() == bytewise.framebuffer());
        prop_assert_eq!(whole.take_replies(), bytewise.take_replies());
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(s.len() + 1)).collect();
        points.sort_unstable();
        let mut split = Terminal::new(w, h).unwrap();
        let mut start = 0;
        for p in points.into_iter().chain([s.len()]) {
            split.feed(&s[start..p]);
            start = p;
        }
        prop_assert!(whole.framebuffer() == split.framebuffer());
    }
}

/// Feeds `steps` to a host one frame at a time and keeps a replica in sync with diffs.
fn frames(w: usize, h: usize, steps: &[&[u8]]) -> (Terminal, Terminal) {
    let mut host = Terminal::new(w, h).unwrap();
    let mut replica = Terminal::new(w, h).unwrap();
    let mut last = host.framebuffer().clone();
    for step in steps {
        host.feed(step);
        let diff = new_frame(true, &last, host.framebuffer());
        replica.feed(&diff);
        assert_same(replica.framebuffer(), host.framebuffer(), &diff);
        last = host.framebuffer().clone();
    }
    (host, replica)
}

/// emulation-cursor-motion: CUP to many positions, each a separate frame, exercising the
/// CR/LF/BS shortcuts of the cursor-move logic.
#[test]
fn cursor_motion_across_frames() {
    let positions = [
        (1, 1),
        (1, 5),
        (1, 2),
        (2, 1),
        (5, 1),
        (6, 1),
        (12, 1),
        (12, 40),
        (12, 37),
        (12, 36),
        (11, 36),
        (24, 80),
        (24, 1),
        (23, 1),
        (1, 80),
        (2, 80),
        (1, 1),
    ];
    let steps: Vec<Vec<u8>> = positions
        .iter()
        .map(|(r, c)| format!("\x1b[{r};{c}H*").into_bytes())
        .collect();
    let steps: Vec<&[u8]> = steps.iter().map(Vec::as_slice).collect();
    let (host, _) = frames(80, 24, &steps);
    for (r, c) in positions {
        let p = moshkit_core::terminal::Point {
            row: r - 1,
            col: c - 1,
        };
        let cell = host.framebuffer().cell(p).unwrap();
        assert_eq!(cell.inline_char(), Some('*'), "{p:?}");
    }
}

/// emulation-wrap-across-frames: lines filling the last column in one frame and wrapping in
/// the next keep their wrap flags on the replica.
#[test]
fn wrap_across_frames() {
    let line = [b'x'; 80];
    let (host, replica) = frames(80, 24, &[&line, b"y", &line[..79], b"z", b"\r\nend"]);
    assert!(host.framebuffer().row(0).unwrap().wrapped());
    assert!(replica.framebuffer().row(0).unwrap().wrapped());
    assert!(replica.framebuffer().row(1).unwrap().wrapped());
    assert_eq!(replica.framebuffer().row_text(2), "z");
}

/// emulation-ascii-iso-8859: every printable ASCII and Latin-1 character is one column and
/// survives the differ.
#[test]
fn ascii_and_latin1_table() {
    let mut s = String::new();
    for (i, c) in (0x20u32..0x7f)
        .chain(0xa0..0x100)
        .filter_map(char::from_u32)
        .enumerate()
    {
        if i % 32 == 0 {
            s.push_str("\r\n");
        }
        s.push(c);
    }
    let (host, _) = frames(80, 24, &[s.as_bytes()]);
    let fb = host.framebuffer();
    assert_eq!(fb.row_text(1).chars().count(), 32);
    assert_eq!(
        fb.row_text(1),
        (0x20u8..0x40).map(char::from).collect::<String>()
    );
}

proptest! {
    /// The differ stays exact for receivers without ECH and/or BCE (§7.6), and never uses
    /// what the receiver lacks.
    #[test]
    fn diff_round_trip_with_display_caps(
        (w, h) in size(), a in stream(), b in stream(), ech in any::<bool>(), bce in any::<bool>(),
    ) {
        use moshkit_core::display::{DisplayCaps, new_frame_with};
        let caps = DisplayCaps { ech, bce, titles: true };
        let mut host = Terminal::new(w, h).unwrap();
        host.feed(&a);
        let fa = host.framebuffer().clone();
        let mut replica = Terminal::new(w, h).unwrap();
        replica.feed(&new_frame_with(caps, false, replica.framebuffer(), &fa));
        host.feed(&b);
        let diff = new_frame_with(caps, true, &fa, host.framebuffer());
        replica.feed(&diff);
        assert_same(replica.framebuffer(), host.framebuffer(), &diff);
        if !ech {
            let text = String::from_utf8_lossy(&diff);
            prop_assert!(!text.split('\x1b').any(|s| s.starts_with('[') && s.ends_with('X')
                && s[1..s.len() - 1].bytes().all(|c| c.is_ascii_digit())));
        }
    }
}

#[test]
fn no_titles_without_the_capability() {
    use moshkit_core::display::{DisplayCaps, new_frame_with};
    let blank = Terminal::new(10, 2).unwrap();
    let mut t = blank.clone();
    t.feed(b"\x1b]0;hello\x07x");
    let caps = DisplayCaps {
        titles: false,
        ..DisplayCaps::IDEAL
    };
    let out = new_frame_with(caps, true, blank.framebuffer(), t.framebuffer());
    assert!(!String::from_utf8_lossy(&out).contains("hello"));
    let out = new_frame_with(
        DisplayCaps::IDEAL,
        true,
        blank.framebuffer(),
        t.framebuffer(),
    );
    assert!(String::from_utf8_lossy(&out).contains("\x1b]0;hello\x07"));
}

/// Found by the `display_roundtrip` fuzz target (its crash input, shortened): an OSC 8 cut
/// short by CAN is dispatched with a URI of only a DEL; stripping controls left the link
/// `;`, kept on the cells but re-sent by the differ as `8;;`, which ends a link. A URI of
/// only control characters now ends the link on the host too.
#[test]
fn fuzz_display_roundtrip_crash_ed572455() {
    let data: &[u8] = &[
        0x1b, 0xa8, 0xac, 0x7a, 0xa8, 0x1b, 0x5d, 0xc, 0x0, 0x38, 0x3b, 0x3b, 0x7f, 0x18, 0x7f,
        0x3b, 0x33, 0x0, 0xe8, 0x0, 0xb, 0x0, 0x1b, 0x5b, 0xb9, 0x32, 0x36, 0x0, 0x40, 0x0, 0x31,
    ];
    let mut host = Terminal::new(32, 1).unwrap();
    host.feed(data);
    let mut replica = Terminal::new(32, 1).unwrap();
    let caps = moshkit_core::display::DisplayCaps {
        ech: true,
        bce: true,
        titles: true,
    };
    let diff = moshkit_core::display::new_frame_with(
        caps,
        false,
        replica.framebuffer(),
        host.framebuffer(),
    );
    replica.feed(&diff);
    assert_same(replica.framebuffer(), host.framebuffer(), &diff);
}
