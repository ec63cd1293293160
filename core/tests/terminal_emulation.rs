//! Emulator behaviour, porting the intent of upstream's emulation tests (reference §14.4) and
//! the documented semantics of §8.

#![allow(clippy::unwrap_used)]

use moshkit_core::terminal::{Attrs, Color, MouseEncoding, MouseMode, Point, Terminal};

fn term(w: usize, h: usize, bytes: &[u8]) -> Terminal {
    let mut t = Terminal::new(w, h).unwrap();
    t.feed(bytes);
    t.framebuffer().check_invariants().unwrap();
    t
}

fn text(t: &Terminal, y: usize) -> String {
    t.framebuffer().row_text(y)
}

#[test]
fn eightieth_column_pending_wrap() {
    // emulation-80th-column: CR LF after a full line must not produce blank lines.
    let mut s = Vec::new();
    for _ in 0..25 {
        s.extend(std::iter::repeat_n(b'E', 80));
        s.extend_from_slice(b"\r\n");
    }
    let t = term(80, 24, &s);
    let full = (0..24).filter(|&y| text(&t, y) == "E".repeat(80)).count();
    assert_eq!(full, 23);
    assert_eq!(text(&t, 23), "");
    // Rows were not wrapped: CR cancelled the pending wrap.
    assert!(!t.framebuffer().row(0).unwrap().wrapped());
}

#[test]
fn wrapping_sets_the_flag() {
    let t = term(5, 3, b"abcdefg");
    assert_eq!(text(&t, 0), "abcde");
    assert_eq!(text(&t, 1), "fg");
    assert!(t.framebuffer().row(0).unwrap().wrapped());
    assert!(!t.framebuffer().row(1).unwrap().wrapped());
    // Pending wrap keeps the cursor on the last column.
    let t = term(5, 3, b"abcde");
    assert_eq!(t.framebuffer().cursor(), Point { row: 0, col: 4 });
    assert!(t.framebuffer().wrap_pending());
}

#[test]
fn back_tab_and_forward_tab() {
    // emulation-back-tab
    let cases: [(&[u8], &str); 5] = [
        (b"hello, wurld\x1b[Zo", "hello, world"),
        (b"hello, wurld\x1b[2Zo", "oello, wurld"),
        (b"hello, wurld\x1b[99Z9", "9ello, wurld"),
        (b"hello, wurld\x1b[It", "hello, wurld    t"),
        (b"hello, wurld\x1b[99I#", "hello, wurld"),
    ];
    for (input, expected) in cases {
        let t = term(80, 24, input);
        if expected == "hello, wurld" {
            let row = text(&t, 0);
            assert_eq!(row.len(), 80);
            assert!(row.starts_with("hello, wurld") && row.ends_with(" #"));
        } else {
            assert_eq!(text(&t, 0), expected);
        }
    }
}

#[test]
fn scroll_up_down_keep_cursor() {
    // emulation-scroll
    let mut s = Vec::new();
    for i in 1..=24 {
        s.extend_from_slice(format!("text {i}").as_bytes());
        if i < 24 {
            s.extend_from_slice(b"\r\n");
        }
    }
    let mut t = term(80, 24, &s);
    let before = t.framebuffer().cursor();
    t.feed(b"\x1b[4S\x1b[2T");
    assert_eq!(t.framebuffer().cursor(), before);
    let rows: Vec<String> = (0..24).map(|y| text(&t, y)).collect();
    assert_eq!(rows[0], "");
    assert_eq!(rows[1], "");
    assert_eq!(rows[2], "text 5");
    assert_eq!(rows[21], "text 24");
    assert_eq!(rows.iter().filter(|r| r.starts_with("text")).count(), 20);
    assert!(!rows.iter().any(|r| r == "text 4"));
}

#[test]
fn multiline_insert_delete_do_not_crash() {
    // emulation-multiline-scroll
    for n in [0, 1, 2, 22, 23, 24, 25, 26] {
        let s = format!("a\r\nb\x1b[5;1H\x1b[{n}Lx\x1b[3;1H\x1b[{n}My");
        let t = term(80, 24, s.as_bytes());
        assert_eq!(t.framebuffer().cursor().col, 1);
    }
}

#[test]
fn il_dl_move_cursor_to_column_zero() {
    let t = term(10, 5, b"abc\x1b[L");
    assert_eq!(t.framebuffer().cursor(), Point { row: 0, col: 0 });
    assert_eq!(text(&t, 1), "abc");
    let t = term(10, 5, b"abc\r\ndef\x1b[1;3H\x1b[M");
    assert_eq!(t.framebuffer().cursor(), Point { row: 0, col: 0 });
    assert_eq!(text(&t, 0), "def");
}

#[test]
fn later_combining_uses_fallback() {
    // unicode-later-combining and unicode-combine-fallback-assert
    let t = term(80, 24, "abc\r\n\u{302}\r\ndef".as_bytes());
    assert_eq!(text(&t, 1), "\u{a0}\u{302}");
    let cell = t.framebuffer().cell(Point { row: 1, col: 0 }).unwrap();
    assert!(cell.is_fallback());
    assert_eq!(text(&t, 2), "def");
    let _ = term(80, 24, "0\x1b[1J\u{334}".as_bytes());
}

#[test]
fn combining_marks_join_their_base() {
    let t = term(10, 2, "e\u{301}x".as_bytes());
    assert_eq!(text(&t, 0), "e\u{301}x");
    assert_eq!(t.framebuffer().cursor().col, 2);
    // 32-byte limit per cell
    let mut s = String::from("a");
    for _ in 0..40 {
        s.push('\u{301}');
    }
    let t = term(10, 2, s.as_bytes());
    assert!(text(&t, 0).len() <= 34);
}

#[test]
fn wide_characters() {
    let t = term(6, 3, "\u{4e2d}\u{6587}ab".as_bytes());
    let fb = t.framebuffer();
    assert!(fb.cell(Point { row: 0, col: 0 }).unwrap().is_wide());
    assert!(fb.cell(Point { row: 0, col: 1 }).unwrap().is_empty());
    assert_eq!(text(&t, 0), "\u{4e2d}\u{6587}ab");
    // A wide character in the last column moves to the next line; the row is not wrapped.
    let t = term(5, 3, "abcd\u{4e2d}".as_bytes());
    assert_eq!(text(&t, 0), "abcd");
    assert_eq!(text(&t, 1), "\u{4e2d}");
    assert!(!t.framebuffer().row(0).unwrap().wrapped());
    // Overwriting the right half erases the left half.
    let t = term(6, 2, "\u{4e2d}\x1b[1;2Hx".as_bytes());
    assert_eq!(text(&t, 0), " x");
    assert!(
        !t.framebuffer()
            .cell(Point { row: 0, col: 0 })
            .unwrap()
            .is_wide()
    );
}

#[test]
fn sgr_colour_model() {
    let t = term(
        10,
        2,
        b"\x1b[1;4;31;42ma\x1b[38;5;1mb\x1b[38;5;200;48;2;1;2;3mc\x1b[0;95md",
    );
    let fb = t.framebuffer();
    let r = |x| fb.cell(Point { row: 0, col: x }).unwrap().rendition();
    assert!(r(0).attrs.contains(Attrs::BOLD) && r(0).attrs.contains(Attrs::UNDERLINE));
    assert_eq!((r(0).fg, r(0).bg), (Color::Indexed(1), Color::Indexed(2)));
    // 256-colour 0-7 fold onto the ANSI colours (emulation-attributes-256color8).
    assert_eq!(r(1).fg, r(0).fg);
    assert_eq!(
        (r(2).fg, r(2).bg),
        (Color::Indexed(200), Color::Rgb(1, 2, 3))
    );
    assert_eq!(r(3).fg, Color::Indexed(13));
    assert!(r(3).attrs.is_empty());
    // An incomplete 38;5 falls through: 38 ignored, 5 = blink.
    let t = term(10, 2, b"\x1b[38;5mx");
    let cell = *t.framebuffer().cell(Point::default()).unwrap();
    assert!(cell.rendition().attrs.contains(Attrs::BLINK));
    // Colon sub-parameters make the whole sequence ignored.
    let t = term(10, 2, b"\x1b[38:2:1:2:3mx");
    assert_eq!(
        t.framebuffer()
            .cell(Point::default())
            .unwrap()
            .rendition()
            .fg,
        Color::Default
    );
}

#[test]
fn erase_uses_background_only() {
    // emulation-attributes-bce
    let t = term(10, 3, b"\x1b[1;4;48;2;255;0;255m\x1b[H\x1b[J");
    let cell = *t.framebuffer().cell(Point { row: 2, col: 9 }).unwrap();
    assert!(cell.is_empty());
    assert_eq!(cell.rendition().bg, Color::Rgb(255, 0, 255));
    assert!(cell.rendition().attrs.is_empty());
}

#[test]
fn query_replies() {
    let mut t = Terminal::new(80, 24).unwrap();
    t.feed(b"\x1b[c\x1b[0c\x1b[>c\x1b[5n\r\n\x1b[6n\x1b[?6n");
    assert_eq!(
        t.take_replies(),
        b"\x1b[?62c\x1b[?62c\x1b[>1;10;0c\x1b[0n\x1b[2;1R"
    );
    assert!(t.take_replies().is_empty());
}

#[test]
fn origin_mode_quirk_and_margins() {
    // Setting DECOM homes to absolute row 0 (before the flag changes).
    let t = term(10, 10, b"\x1b[3;6r\x1b[5;5H\x1b[?6h");
    assert_eq!(t.framebuffer().cursor(), Point { row: 0, col: 0 });
    // Then CUP is relative to the margin and clamped to it.
    let t = term(10, 10, b"\x1b[3;6r\x1b[?6h\x1b[1;1Hx\x1b[20;1Hy");
    assert_eq!(text(&t, 2), "x");
    assert_eq!(text(&t, 5), "y");
    // CUU is not stopped by the top margin without origin mode.
    let t = term(10, 10, b"\x1b[3;6r\x1b[5;1H\x1b[9A");
    assert_eq!(t.framebuffer().cursor().row, 0);
    // LF at the bottom margin scrolls only the region.
    let t = term(10, 10, b"top\x1b[3;6r\x1b[3;1Ha\x1b[6;1H\nb");
    assert_eq!(text(&t, 0), "top");
    assert_eq!(text(&t, 5), "b");
    assert_eq!(text(&t, 2), "");
}

#[test]
fn deccolm_clears_without_resizing() {
    let t = term(10, 3, b"abc\x1b[?3h");
    assert_eq!(t.framebuffer().width(), 10);
    assert_eq!(text(&t, 0), "");
}

#[test]
fn titles_clipboard_bell_and_ris() {
    let mut t = term(10, 3, b"\x1b]0;both\x07\x1b]1;icon\x1b\\\x07\x07");
    let fb = t.framebuffer();
    assert_eq!((fb.title(), fb.icon_name()), ("both", "icon"));
    assert_eq!(fb.bell_count(), 2);
    t.feed(b"\x1b]52;c;aGVsbG8=\x07");
    assert_eq!(t.framebuffer().clipboard(), "aGVsbG8=");
    t.feed(b"\x1b]52;;ZW1wdHk=\x07");
    assert_eq!(t.framebuffer().clipboard(), "ZW1wdHk=");
    t.feed(b"\x1b]52;c;?\x07\x1b]52;p;eA==\x07");
    assert_eq!(t.framebuffer().clipboard(), "ZW1wdHk=");
    t.feed(b"x\x1bc");
    let fb = t.framebuffer();
    assert_eq!(
        (fb.title(), fb.icon_name(), fb.clipboard()),
        ("", "icon", "")
    );
    assert_eq!(fb.bell_count(), 2);
    assert!(fb.title_initialized());
    assert_eq!(text(&t, 0), "");
    // Title length limit: payload position 256.
    let long = format!("\x1b]2;{}\x07", "t".repeat(400));
    let t = term(10, 3, long.as_bytes());
    assert_eq!(t.framebuffer().title().chars().count(), 254);
}

#[test]
fn modes() {
    let t = term(
        10,
        3,
        b"\x1b[?1h\x1b[?2004h\x1b[?1002h\x1b[?1006h\x1b[?1004h\x1b[?25l\x1b[?5h",
    );
    let m = *t.framebuffer().modes();
    assert!(m.application_cursor_keys && m.bracketed_paste && m.focus_events && m.reverse_video);
    assert!(!m.cursor_visible);
    assert_eq!(m.mouse_mode, MouseMode::ButtonEvent);
    assert_eq!(m.mouse_encoding, MouseEncoding::Sgr);
    let t = term(10, 3, b"\x1b[?1002h\x1b[?1000l\x1b[?1006h\x1b[?1015l");
    assert_eq!(t.framebuffer().modes().mouse_mode, MouseMode::None);
    assert_eq!(
        t.framebuffer().modes().mouse_encoding,
        MouseEncoding::Default
    );
}

#[test]
fn insert_mode_and_editing() {
    let t = term(10, 2, b"abcdef\x1b[1;3H\x1b[4hXY\x1b[4lZ");
    assert_eq!(text(&t, 0), "abXYZdef");
    let t = term(10, 2, b"abcdef\x1b[1;2H\x1b[2P");
    assert_eq!(text(&t, 0), "adef");
    let t = term(10, 2, b"abcdef\x1b[1;2H\x1b[2@");
    assert_eq!(text(&t, 0), "a  bcdef");
    let t = term(10, 2, b"abcdef\x1b[1;2H\x1b[2X");
    assert_eq!(text(&t, 0), "a  def");
    let t = term(10, 2, b"abcdef\x1b[1;3H\x1b[1K");
    assert_eq!(text(&t, 0), "   def");
}

#[test]
fn save_restore_cursor_and_soft_reset() {
    let t = term(10, 5, b"\x1b[2;3H\x1b[1m\x1b7\x1b[0m\x1b[5;5H\x1b8x");
    let fb = t.framebuffer();
    assert_eq!(fb.cursor(), Point { row: 1, col: 3 });
    assert!(
        fb.cell(Point { row: 1, col: 2 })
            .unwrap()
            .rendition()
            .attrs
            .contains(Attrs::BOLD)
    );
    let t = term(10, 5, b"\x1b[2;4r\x1b[?6h\x1b[4h\x1b[1m\x1b[!p");
    let fb = t.framebuffer();
    assert_eq!(fb.scroll_region(), (0, 4));
    assert!(!fb.modes().origin && !fb.modes().insert);
    assert_eq!(fb.rendition(), Default::default());
}

#[test]
fn c1_controls() {
    // UTF-8 encoded CSI acts; a raw 0x9b is U+FFFD.
    let t = term(10, 3, b"\xc2\x9b2;2Hx");
    assert_eq!(text(&t, 1), " x");
    let t = term(10, 3, b"\x9b2;2Hx");
    assert_eq!(text(&t, 0), "\u{fffd}2;2Hx");
}

#[test]
fn alternate_screen_extension() {
    let mut t = term(10, 3, b"main\x1b[?1049h");
    assert!(t.framebuffer().alternate_screen_active());
    assert_eq!(text(&t, 0), "");
    t.feed(b"alt");
    t.feed(b"\x1b[?1049l");
    assert_eq!(text(&t, 0), "main");
    assert_eq!(t.framebuffer().cursor(), Point { row: 0, col: 4 });
}

#[test]
fn resize_keeps_content_and_clamps() {
    let mut t = term(10, 5, b"abcdefghij\x1b[5;10H");
    t.resize(4, 3).unwrap();
    let fb = t.framebuffer();
    assert_eq!((fb.width(), fb.height()), (4, 3));
    assert_eq!(fb.row_text(0), "abcd");
    assert_eq!(fb.cursor(), Point { row: 2, col: 3 });
    fb.check_invariants().unwrap();
    assert!(t.resize(0, 3).is_err());
    assert!(t.resize(5000, 3).is_err());
}

#[test]
fn hyperlinks() {
    let t = term(20, 2, b"\x1b]8;id=1;http://x/\x07link\x1b]8;;\x07 no");
    let fb = t.framebuffer();
    let c = fb.cell(Point { row: 0, col: 1 }).unwrap();
    assert_eq!(fb.hyperlink(c), Some("id=1;http://x/"));
    assert_eq!(
        fb.hyperlink(fb.cell(Point { row: 0, col: 5 }).unwrap()),
        None
    );
}

#[test]
fn user_input_translation_follows_decckm() {
    let mut t = Terminal::new(10, 2).unwrap();
    assert_eq!(t.translate_user_input(b"\x1bOA"), b"\x1b[A");
    t.feed(b"\x1b[?1h");
    assert_eq!(t.translate_user_input(b"\x1bOA"), b"\x1bOA");
}

/// Behaviours found by differential testing against live upstream mosh 1.4 (random streams
/// played through mosh-server/mosh-client in tmux), where the reference text is silent.
#[test]
fn upstream_live_behaviours() {
    // IL/DL outside the scroll region do nothing but still move the cursor to column 0.
    let t = term(10, 5, b"\x1b[3;5r\x1b[1;6Hab\x1b[2Mx");
    assert_eq!(t.framebuffer().cursor(), Point { row: 0, col: 1 });
    assert_eq!(text(&t, 0), "x    ab");
    // In origin mode every cursor motion, printing included, snaps the row into the region.
    let t = term(10, 8, b"\x1b[4;6r\x1b[?6hIJ");
    assert_eq!(text(&t, 0), "I");
    assert_eq!(text(&t, 3), " J");
    // An ignored DECSTBM still cancels a pending wrap.
    let t = term(5, 3, b"abcde\x1b[9;2rX");
    assert_eq!(text(&t, 0), "abcdX");
    assert_eq!(text(&t, 1), "");
}

#[test]
fn grapheme_and_link_tables_stay_bounded() {
    // Far more distinct combined graphemes and hyperlinks than the tables hold: old entries
    // no longer on screen are collected, the screen stays consistent.
    let mut t = Terminal::new(20, 4).unwrap();
    let marks = [
        '\u{300}', '\u{301}', '\u{302}', '\u{303}', '\u{304}', '\u{308}',
    ];
    let mut s = String::new();
    for i in 0..80_000u32 {
        let base = char::from_u32(0x4e00 + i % 20_000).unwrap();
        s.push(base);
        for (k, m) in marks.iter().enumerate() {
            if (i >> k) & 1 == 1 {
                s.push(*m);
            }
        }
        if i % 7 == 0 {
            s.push_str(&format!("\x1b]8;;http://h/{i}\x07"));
        }
    }
    t.feed(s.as_bytes());
    let fb = t.framebuffer();
    fb.check_invariants().unwrap();
    let (graphemes, links) = fb.table_sizes();
    assert!(graphemes <= 1 << 16 && links <= 4096, "{graphemes} {links}");
    // The last character printed kept its marks and link.
    let last = fb.cell(Point { row: 3, col: 18 }).unwrap();
    assert!(fb.cell_text(last).to_string().chars().count() > 1);
    assert!(fb.hyperlink(last).is_some());
}

#[test]
fn dec_special_graphics_draws_unicode_boxes() {
    // G0 designated directly, then G1 through SO/SI; ASCII outside 0x5f..0x7e is unchanged.
    let t = term(
        20,
        4,
        b"\x1b(0lqwqk\x1b(B x\r\n\x1b)0a\x0etxu\x0fb\r\n\x1b(0`afgjmnovyz{|}~_A\x1b(B",
    );
    assert_eq!(text(&t, 0), "┌─┬─┐ x");
    assert_eq!(text(&t, 1), "a├│┤b");
    assert_eq!(text(&t, 2), "◆▒°±┘└┼⎺┴≤≥π≠£·\u{a0}A");
    // The framebuffer holds Unicode: a replica built from the differ's output shows the same.
    let mut replica = Terminal::new(20, 4).unwrap();
    let fresh = replica.framebuffer().clone();
    replica.feed(&moshkit_core::display::new_frame(
        false,
        &fresh,
        t.framebuffer(),
    ));
    assert_eq!(text(&replica, 0), "┌─┬─┐ x");
}

#[test]
fn charsets_are_saved_with_the_cursor_and_reset() {
    // DECSC saves designations and the shift state, DECRC restores them (xterm).
    let t = term(
        10,
        3,
        b"\x1b(0\x1b7\x1b(Bq\x1b8q\r\n\x1b)0\x0e\x1b7\x0fq\x1b8q",
    );
    assert_eq!(text(&t, 0), "─");
    assert_eq!(text(&t, 1), "─");
    // DECSTR and RIS go back to ASCII.
    let t = term(10, 3, b"\x1b(0\x1b[!pq\r\n\x1b)0\x0e\x1bcq");
    assert_eq!(text(&t, 0), "q");
    assert_eq!(text(&t, 1), "");
    // Other national sets (UK, ...) and G2/G3 designations print ASCII.
    let t = term(10, 2, b"\x1b(Aq\x1b*0q\x1b+0q");
    assert_eq!(text(&t, 0), "qqq");
}

#[test]
fn cursor_next_and_previous_line() {
    // CNL / CPL: down / up n rows (default 1), to column 0.
    let t = term(10, 6, b"ab\x1b[Ec\x1b[2Ed\x1b[Fe\x1b[9Ff\x1b[0Eg");
    assert_eq!(text(&t, 0), "fb");
    assert_eq!(text(&t, 1), "g");
    assert_eq!(text(&t, 2), "e");
    assert_eq!(text(&t, 3), "d");
    // Like CUD/CUU here (upstream): the screen edges limit them, the margins only in
    // origin mode.
    let t = term(
        10,
        6,
        b"\x1b[3;5Hx\x1b[9Ey\x1b[9Fz\x1b[2;4r\x1b[?6h\x1b[9E1\x1b[9F2",
    );
    assert_eq!(text(&t, 5), "y");
    assert_eq!(text(&t, 0), "z");
    assert_eq!(text(&t, 3), "1");
    assert_eq!(text(&t, 1), "2");
    assert_eq!(t.framebuffer().cursor(), Point { row: 1, col: 1 });
}
