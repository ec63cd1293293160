//! Best-effort capture: how many rows scrolled off between two screens a client received.
//!
//! The client compares its previous copy of the host screen with the new one (however the diff
//! between them was encoded), in the spirit of the frame differ's scroll detection (§7.4 step
//! 8): the smallest `k` such that the new top rows are the old rows from `k` on.

use crate::terminal::{Framebuffer, Rendition, Row};

/// What happened at the top of the screen between two frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopChange {
    /// The top row is the same (or the screen was resized): nothing scrolled off.
    None,
    /// The old rows `0..k` scrolled off.
    Scrolled(usize),
    /// The old top row is gone without a recognisable scroll (more than a screenful of output,
    /// a clear, a redraw): lines may have been lost.
    Unexplained,
}

fn row_is_blank(row: &Row) -> bool {
    row.cells()
        .iter()
        .all(|c| c.is_blank() && c.rendition() == Rendition::default())
}

fn rows_equal(fa: &Framebuffer, a: &Row, fb: &Framebuffer, b: &Row) -> bool {
    a.wrapped() == b.wrapped()
        && a.cells().len() == b.cells().len()
        && a.cells().iter().zip(b.cells()).all(|(x, y)| {
            x.is_wide() == y.is_wide()
                && x.rendition() == y.rendition()
                && fa.cell_text(x).same_drawn(&fb.cell_text(y))
        })
}

/// Compares the top of `old` and `new` (two consecutive screens of the same host).
pub(crate) fn detect_scroll(old: &Framebuffer, new: &Framebuffer) -> TopChange {
    if old.width() != new.width() || old.height() != new.height() {
        return TopChange::None;
    }
    let h = old.height();
    let old_rows: Vec<&Row> = old.rows().collect();
    let new_rows: Vec<&Row> = new.rows().collect();
    if rows_equal(old, old_rows[0], new, new_rows[0]) {
        return TopChange::None;
    }
    if !row_is_blank(new_rows[0]) {
        for k in 1..h {
            if !rows_equal(old, old_rows[k], new, new_rows[0]) {
                continue;
            }
            let run = (0..h - k)
                .take_while(|&i| rows_equal(old, old_rows[k + i], new, new_rows[i]))
                .count();
            // One matching row is enough only when it is all that is left of the old screen.
            if run >= 2.min(h - k) {
                return TopChange::Scrolled(k);
            }
        }
    }
    // A blank top row that is gone tells nothing (a program drew over it); the old top row
    // moved down (reverse index, inserted lines): nothing left the screen.
    if row_is_blank(old_rows[0])
        || new_rows
            .iter()
            .skip(1)
            .any(|r| rows_equal(old, old_rows[0], new, r))
    {
        return TopChange::None;
    }
    TopChange::Unexplained
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::terminal::Terminal;

    fn screens(first: &[u8], then: &[u8]) -> TopChange {
        let mut t = Terminal::new(10, 4).unwrap();
        t.feed(first);
        let old = t.framebuffer().clone();
        t.feed(then);
        detect_scroll(&old, t.framebuffer())
    }

    #[test]
    fn scrolls_are_recognised() {
        assert_eq!(
            screens(b"a\r\nb\r\nc\r\nd", b"\r\ne"),
            TopChange::Scrolled(1)
        );
        assert_eq!(
            screens(b"a\r\nb\r\nc\r\nd", b"\r\ne\r\nf"),
            TopChange::Scrolled(2)
        );
        assert_eq!(
            screens(b"a\r\nb\r\nc\r\nd", b"\r\ne\r\nf\r\ng"),
            TopChange::Scrolled(3)
        );
        // Identical lines cannot be told apart: a screen of them never scrolls (a limit of
        // best-effort capture, see docs/scrollback.md).
        assert_eq!(screens(b"x\r\nx\r\nx\r\nx", b"\r\nx"), TopChange::None);
        assert_eq!(
            screens(b"x\r\ny\r\nx\r\ny", b"\r\nx"),
            TopChange::Scrolled(1)
        );
    }

    #[test]
    fn other_changes_are_not_scrolls() {
        assert_eq!(screens(b"a\r\nb", b"\r\nc"), TopChange::None);
        assert_eq!(screens(b"", b"hello"), TopChange::None);
        // Blank lines scroll off like any other.
        assert_eq!(
            screens(b"\r\nb\r\nc\r\nd", b"\r\ne"),
            TopChange::Scrolled(1)
        );
        assert_eq!(
            screens(b"\r\n\r\nc\r\nd", b"\r\ne\r\nf"),
            TopChange::Scrolled(2)
        );
        assert_eq!(screens(b"a\r\nb\r\nc\r\nd", b"\x1bM"), TopChange::None);
        assert_eq!(
            screens(b"a\r\nb\r\nc\r\nd", b"\x1b[H\x1bM"),
            TopChange::None
        );
        assert_eq!(
            screens(b"a\r\nb\r\nc\r\nd", b"\r\n1\r\n2\r\n3\r\n4\r\n5"),
            TopChange::Unexplained
        );
        assert_eq!(screens(b"a\r\nb", b"\x1b[H\x1b[2J"), TopChange::Unexplained);
        let mut t = Terminal::new(10, 4).unwrap();
        t.feed(b"a\r\nb\r\nc\r\nd");
        let old = t.framebuffer().clone();
        t.resize(12, 4).unwrap();
        assert_eq!(detect_scroll(&old, t.framebuffer()), TopChange::None);
    }
}
