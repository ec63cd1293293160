//! A small re-implementation of GNU `getopt(3)` semantics, enough to reproduce upstream mosh's
//! command lines exactly.
//!
//! Behaviour reproduced (glibc default mode, no `POSIXLY_CORRECT`):
//! * short options only, clustered (`-sv`), arguments attached (`-p0`) or separate (`-p 0`);
//! * arguments are *permuted*: operands (words not starting with `-`, and a lone `-`) may appear
//!   between options and are collected in order;
//! * `--` ends option parsing; everything after it is an operand;
//! * an unknown option or a missing argument yields an error item but parsing continues, and
//!   the diagnostic text is glibc's (`<prog>: invalid option -- 'x'`,
//!   `<prog>: option requires an argument -- 'p'`).

/// One item produced by [`getopt`], in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptItem {
    /// A recognised option, with its argument when the option takes one.
    Opt(char, Option<String>),
    /// An option character not in the option string.
    Unknown(char),
    /// An option that needs an argument but was last on the command line.
    MissingArgument(char),
}

impl OptItem {
    /// glibc's diagnostic for an error item (`None` for a recognised option).
    pub fn diagnostic(&self, prog: &str) -> Option<String> {
        match self {
            OptItem::Opt(..) => None,
            OptItem::Unknown(c) => Some(format!("{prog}: invalid option -- '{c}'")),
            OptItem::MissingArgument(c) => {
                Some(format!("{prog}: option requires an argument -- '{c}'"))
            }
        }
    }
}

/// Result of [`getopt`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Options and errors in order.
    pub items: Vec<OptItem>,
    /// Operands (non-option words) in order.
    pub operands: Vec<String>,
}

/// Parses `args` (without `argv[0]`) against a getopt option string such as `"@:i:p:c:svl:"`.
pub fn getopt(args: &[String], optstring: &str) -> Parsed {
    let takes_arg = |c: char| -> Option<bool> {
        if c == ':' {
            return None;
        }
        let mut chars = optstring.chars().peekable();
        while let Some(o) = chars.next() {
            let has_arg = chars.peek() == Some(&':');
            if has_arg {
                chars.next();
            }
            if o == c {
                return Some(has_arg);
            }
        }
        None
    };

    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        if word == "--" {
            parsed.operands.extend(args[i..].iter().cloned());
            break;
        }
        if !word.starts_with('-') || word == "-" {
            parsed.operands.push(word.clone());
            continue;
        }
        let body: Vec<char> = word.chars().skip(1).collect();
        let mut j = 0;
        while j < body.len() {
            let c = body[j];
            j += 1;
            match takes_arg(c) {
                None => parsed.items.push(OptItem::Unknown(c)),
                Some(false) => parsed.items.push(OptItem::Opt(c, None)),
                Some(true) => {
                    if j < body.len() {
                        let rest: String = body[j..].iter().collect();
                        parsed.items.push(OptItem::Opt(c, Some(rest)));
                    } else if i < args.len() {
                        parsed.items.push(OptItem::Opt(c, Some(args[i].clone())));
                        i += 1;
                    } else {
                        parsed.items.push(OptItem::MissingArgument(c));
                    }
                    break;
                }
            }
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn clusters_attached_and_separate_arguments() {
        let p = getopt(&v(&["-sv", "-p0", "-i", "127.0.0.1"]), "@:i:p:c:svl:");
        assert_eq!(
            p.items,
            vec![
                OptItem::Opt('s', None),
                OptItem::Opt('v', None),
                OptItem::Opt('p', Some("0".into())),
                OptItem::Opt('i', Some("127.0.0.1".into())),
            ]
        );
        assert!(p.operands.is_empty());
    }

    #[test]
    fn permutes_operands_and_stops_at_double_dash() {
        let p = getopt(&v(&["1.2.3.4", "-v", "60001", "--", "-c"]), "#:cv");
        assert_eq!(p.items, vec![OptItem::Opt('v', None)]);
        assert_eq!(p.operands, v(&["1.2.3.4", "60001", "-c"]));
    }

    #[test]
    fn errors_do_not_stop_parsing() {
        let p = getopt(&v(&["-x", "-s", "-p"]), "@:i:p:c:svl:");
        assert_eq!(
            p.items,
            vec![
                OptItem::Unknown('x'),
                OptItem::Opt('s', None),
                OptItem::MissingArgument('p')
            ]
        );
        assert_eq!(
            p.items[0].diagnostic("new").as_deref(),
            Some("new: invalid option -- 'x'")
        );
        assert_eq!(
            p.items[2].diagnostic("new").as_deref(),
            Some("new: option requires an argument -- 'p'")
        );
    }

    #[test]
    fn option_argument_may_start_with_dash_and_lone_dash_is_operand() {
        let p = getopt(&v(&["-c", "-3", "-", "-#", "mosh host |"]), "#:c:v");
        assert_eq!(
            p.items,
            vec![
                OptItem::Opt('c', Some("-3".into())),
                OptItem::Opt('#', Some("mosh host |".into()))
            ]
        );
        assert_eq!(p.operands, v(&["-"]));
    }

    #[test]
    fn colon_is_never_an_option() {
        let p = getopt(&v(&["-:"]), "a:");
        assert_eq!(p.items, vec![OptItem::Unknown(':')]);
    }
}
