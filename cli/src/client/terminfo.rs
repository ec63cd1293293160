//! A minimal reader of compiled terminfo entries (legacy 16-bit and extended 32-bit number
//! formats), enough for what the client needs: `colors`, `smcup`, `rmcup`, `ech`, `bce`.

use std::path::{Path, PathBuf};

/// Boolean capability index of `bce` (back_color_erase).
const BOOL_BCE: usize = 28;
/// Numeric capability index of `colors`.
const NUM_COLORS: usize = 13;
/// String capability indexes.
const STR_SMCUP: usize = 28;
const STR_ECH: usize = 37;
const STR_RMCUP: usize = 40;

/// The capabilities the client uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TermCaps {
    /// `colors` (`None` if absent).
    pub colors: Option<i32>,
    /// `smcup` (enter alternate screen), delays stripped.
    pub smcup: Option<Vec<u8>>,
    /// `rmcup` (leave alternate screen), delays stripped.
    pub rmcup: Option<Vec<u8>>,
    /// Whether `ech` exists.
    pub ech: bool,
    /// Whether `bce` is set.
    pub bce: bool,
}

/// Where a terminal's entry is searched, like ncurses: `$TERMINFO`, `~/.terminfo`,
/// `$TERMINFO_DIRS`, then the system directories.
pub fn search_dirs(
    terminfo: Option<&str>,
    home: Option<&str>,
    terminfo_dirs: Option<&str>,
) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(t) = terminfo.filter(|t| !t.is_empty()) {
        dirs.push(PathBuf::from(t));
    }
    if let Some(h) = home.filter(|h| !h.is_empty()) {
        dirs.push(Path::new(h).join(".terminfo"));
    }
    if let Some(list) = terminfo_dirs {
        dirs.extend(list.split(':').filter(|d| !d.is_empty()).map(PathBuf::from));
    }
    for d in [
        "/etc/terminfo",
        "/lib/terminfo",
        "/usr/share/terminfo",
        "/usr/lib/terminfo",
        "/usr/share/lib/terminfo",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// Finds and parses the entry of `term` in `dirs`.
pub fn load(term: &str, dirs: &[PathBuf]) -> Option<TermCaps> {
    let first = term.chars().next()?;
    if term.contains('/') || term.starts_with('.') {
        return None;
    }
    for dir in dirs {
        for sub in [first.to_string(), format!("{:02x}", first as u32)] {
            if let Ok(bytes) = std::fs::read(dir.join(sub).join(term)) {
                return parse(&bytes);
            }
        }
    }
    None
}

/// Loads the entry for the environment's `TERM`.
pub fn from_env() -> Option<TermCaps> {
    let var = |n: &str| std::env::var(n).ok();
    let term = var("TERM")?;
    load(
        &term,
        &search_dirs(
            var("TERMINFO").as_deref(),
            var("HOME").as_deref(),
            var("TERMINFO_DIRS").as_deref(),
        ),
    )
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Parses a compiled entry; `None` if malformed.
pub fn parse(b: &[u8]) -> Option<TermCaps> {
    let magic = u16_at(b, 0)?;
    let num_size = match magic {
        0o432 => 2,
        0o1036 => 4,
        _ => return None,
    };
    let names = usize::from(u16_at(b, 2)?);
    let bools = usize::from(u16_at(b, 4)?);
    let nums = usize::from(u16_at(b, 6)?);
    let strs = usize::from(u16_at(b, 8)?);
    let table = usize::from(u16_at(b, 10)?);
    let bools_at = 12 + names;
    let mut nums_at = bools_at + bools;
    if nums_at % 2 == 1 {
        nums_at += 1;
    }
    let strs_at = nums_at + nums * num_size;
    let table_at = strs_at + strs * 2;
    if b.len() < table_at + table {
        return None;
    }
    let bce = bools > BOOL_BCE && b[bools_at + BOOL_BCE] == 1;
    let colors = (nums > NUM_COLORS)
        .then(|| {
            let at = nums_at + NUM_COLORS * num_size;
            if num_size == 2 {
                let v = i16::from_le_bytes([b[at], b[at + 1]]);
                i32::from(v)
            } else {
                i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
            }
        })
        .filter(|v| *v >= 0);
    let string = |idx: usize| -> Option<Vec<u8>> {
        if idx >= strs {
            return None;
        }
        let off = i16::from_le_bytes([b[strs_at + 2 * idx], b[strs_at + 2 * idx + 1]]);
        let off = usize::try_from(off).ok()?;
        let tab = &b[table_at..table_at + table];
        let s = tab.get(off..)?;
        let end = s.iter().position(|c| *c == 0)?;
        Some(strip_delays(&s[..end]))
    };
    Some(TermCaps {
        colors,
        smcup: string(STR_SMCUP),
        rmcup: string(STR_RMCUP),
        ech: string(STR_ECH).is_some(),
        bce,
    })
}

/// Removes terminfo padding specifications (`$<5>`, `$<100/*>`).
fn strip_delays(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'$'
            && s.get(i + 1) == Some(&b'<')
            && let Some(close) = s[i..].iter().position(|c| *c == b'>')
        {
            i += close + 1;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system() -> Vec<PathBuf> {
        search_dirs(None, None, None)
    }

    fn tput(term: &str, cap: &str) -> Option<String> {
        let out = std::process::Command::new("tput")
            .args(["-T", term, cap])
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    #[test]
    fn xterm_entries_agree_with_tput() {
        let Some(x) = load("xterm", &system()) else {
            return; // no terminfo database installed
        };
        assert_eq!(x.colors, Some(8));
        assert!(x.bce);
        assert!(x.ech);
        assert_eq!(
            x.smcup.as_deref(),
            Some(b"\x1b[?1049h\x1b[22;0;0t".as_slice())
        );
        assert_eq!(
            x.rmcup.as_deref(),
            Some(b"\x1b[?1049l\x1b[23;0;0t".as_slice())
        );
        if let Some(c) = tput("xterm-256color", "colors") {
            let caps = load("xterm-256color", &system()).expect("xterm-256color");
            assert_eq!(
                caps.colors.map(|c| c.to_string()),
                Some(c.trim().to_string())
            );
        }
        let dumb = load("dumb", &system());
        if let Some(d) = dumb {
            assert_eq!(d.colors, None);
            assert_eq!(d.smcup, None);
        }
    }

    #[test]
    fn rejects_garbage_and_path_tricks() {
        assert_eq!(parse(b""), None);
        assert_eq!(
            parse(&[0x1a, 0x01, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        assert_eq!(load("../x/xterm", &system()), None);
        assert_eq!(load("", &system()), None);
        assert_eq!(strip_delays(b"a$<5>b$<100/*>c"), b"abc");
    }
}
