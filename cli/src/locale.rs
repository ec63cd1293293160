//! Locale checks (reference §2.9), computed without mutating the process environment.

use std::ffi::CString;

/// Locale variables forwarded by the wrapper with `-l` and cleared by the server when the
/// native locale is not UTF-8, in upstream's order.
pub const LOCALE_VARS: [&str; 15] = [
    "LANG",
    "LANGUAGE",
    "LC_CTYPE",
    "LC_NUMERIC",
    "LC_TIME",
    "LC_COLLATE",
    "LC_MONETARY",
    "LC_MESSAGES",
    "LC_PAPER",
    "LC_NAME",
    "LC_ADDRESS",
    "LC_TELEPHONE",
    "LC_MEASUREMENT",
    "LC_IDENTIFICATION",
    "LC_ALL",
];

/// The variable that decides `LC_CTYPE` (`LC_ALL`, else `LC_CTYPE`, else `LANG`; empty values
/// are ignored as by `setlocale`), with its value. `None` when none is set.
pub fn governing_ctype(lookup: &dyn Fn(&str) -> Option<String>) -> Option<(&'static str, String)> {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .into_iter()
        .find_map(|name| lookup(name).filter(|v| !v.is_empty()).map(|v| (name, v)))
}

/// The character set (`nl_langinfo(CODESET)`) of the `LC_CTYPE` locale `name`; an unknown
/// locale yields the C locale's charset, as `setlocale` failing would.
pub fn charset_of(name: &str) -> String {
    // An empty name would make newlocale consult the process environment.
    let name = if name.is_empty() { "C" } else { name };
    let c_name = CString::new(name).unwrap_or_default();
    // SAFETY: newlocale is given a valid NUL-terminated string and a null base; the returned
    // handle is checked for null, only read through nl_langinfo_l (whose result is copied
    // before the handle is freed) and freed exactly once.
    unsafe {
        let mut loc = libc::newlocale(libc::LC_CTYPE_MASK, c_name.as_ptr(), std::ptr::null_mut());
        if loc.is_null() {
            loc = libc::newlocale(libc::LC_CTYPE_MASK, c"C".as_ptr(), std::ptr::null_mut());
            if loc.is_null() {
                return "ANSI_X3.4-1968".to_string();
            }
        }
        let p = libc::nl_langinfo_l(libc::CODESET, loc);
        let cs = if p.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        };
        libc::freelocale(loc);
        cs
    }
}

/// Whether a charset name is accepted (`UTF-8` or `utf-8`, exactly as upstream).
pub fn is_utf8(charset: &str) -> bool {
    charset == "UTF-8" || charset == "utf-8"
}

/// How a charset is named in messages (`ANSI_X3.4-1968` is shown as `US-ASCII`).
pub fn display_charset(charset: &str) -> &str {
    if charset == "ANSI_X3.4-1968" {
        "US-ASCII"
    } else {
        charset
    }
}

/// Describes an environment's locale for messages: `LC_ALL=C` or `[no charset variables]`,
/// and its charset.
pub fn describe(lookup: &dyn Fn(&str) -> Option<String>) -> (String, String) {
    match governing_ctype(lookup) {
        Some((name, value)) => (format!("{name}={value}"), charset_of(&value)),
        None => ("[no charset variables]".to_string(), charset_of("C")),
    }
}

/// The server's locale decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerLocale {
    /// The native environment is UTF-8: keep it.
    Native,
    /// Clear all [`LOCALE_VARS`] and set these client-supplied (`-l`) variables instead.
    ClientSupplied(Vec<(String, String)>),
}

/// Neither the native nor the client-supplied environment is UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{prog} needs a UTF-8 native locale to run.\n\nUnfortunately, the local environment ({native}) specifies\nthe character set \"{native_charset}\",\n\nThe client-supplied environment ({client}) specifies\nthe character set \"{client_charset}\".\n"
)]
pub struct LocaleError {
    /// Program name.
    pub prog: String,
    /// e.g. `LC_ALL=C`.
    pub native: String,
    /// Display charset of the native environment.
    pub native_charset: String,
    /// e.g. `LANG=fr_FR.UTF-8` or `[no charset variables]`.
    pub client: String,
    /// Display charset of the client-supplied environment.
    pub client_charset: String,
}

/// Decides the server's locale (§2.9): native if UTF-8, else the `-l NAME=VALUE` set.
pub fn resolve_server_locale(
    prog: &str,
    native: &dyn Fn(&str) -> Option<String>,
    client_vars: &[String],
) -> Result<ServerLocale, LocaleError> {
    let (native_desc, native_cs) = describe(native);
    if is_utf8(&native_cs) {
        return Ok(ServerLocale::Native);
    }
    let pairs: Vec<(String, String)> = client_vars
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let client_lookup = |name: &str| -> Option<String> {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (client_desc, client_cs) = describe(&client_lookup);
    if is_utf8(&client_cs) {
        return Ok(ServerLocale::ClientSupplied(pairs));
    }
    Err(LocaleError {
        prog: prog.to_string(),
        native: native_desc,
        native_charset: display_charset(&native_cs).to_string(),
        client: client_desc,
        client_charset: display_charset(&client_cs).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn charsets() {
        assert_eq!(charset_of("C"), "ANSI_X3.4-1968");
        assert_eq!(charset_of("no_SUCH.locale"), "ANSI_X3.4-1968");
        // C.UTF-8 is present on every glibc >= 2.35 system and on Debian.
        assert!(is_utf8(&charset_of("C.UTF-8")));
        assert_eq!(display_charset("ANSI_X3.4-1968"), "US-ASCII");
    }

    #[test]
    fn governing_variable_order_and_empty_values() {
        let e = env(&[("LANG", "C.UTF-8"), ("LC_ALL", ""), ("LC_CTYPE", "C")]);
        assert_eq!(governing_ctype(&e), Some(("LC_CTYPE", "C".to_string())));
        let e = env(&[("LANG", "C.UTF-8")]);
        assert_eq!(governing_ctype(&e), Some(("LANG", "C.UTF-8".to_string())));
        assert_eq!(governing_ctype(&env(&[])), None);
    }

    #[test]
    fn server_locale_fallbacks() {
        assert_eq!(
            resolve_server_locale("s", &env(&[("LANG", "C.UTF-8")]), &[]),
            Ok(ServerLocale::Native)
        );
        assert_eq!(
            resolve_server_locale(
                "s",
                &env(&[("LC_ALL", "C")]),
                &["LC_ALL=C.UTF-8".to_string(), "junk".to_string()]
            ),
            Ok(ServerLocale::ClientSupplied(vec![(
                "LC_ALL".to_string(),
                "C.UTF-8".to_string()
            )]))
        );
        let err = resolve_server_locale("moshkit-server", &env(&[("LC_ALL", "C")]), &[])
            .expect_err("not utf-8");
        assert_eq!(
            err.to_string(),
            "moshkit-server needs a UTF-8 native locale to run.\n\nUnfortunately, the local environment (LC_ALL=C) specifies\nthe character set \"US-ASCII\",\n\nThe client-supplied environment ([no charset variables]) specifies\nthe character set \"US-ASCII\".\n"
        );
    }
}
