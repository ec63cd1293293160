//! The C ABI misused as a careless app would: the input is a program of calls to the public C
//! functions with live, freed, null and made-up handles, in any order, with arbitrary sizes
//! and indices (but only buffers that really are as large as the sizes say: lying about a
//! buffer is undefined behaviour in C, not a misuse the library can catch). Every call must
//! return a status and nothing may panic or touch freed memory (the target runs under ASan).
//! Sessions connect to 127.0.0.1:9 (discard) and are all freed at the end of each input.
#![no_main]

use std::ffi::{CString, c_char};
use std::mem::MaybeUninit;
use std::ptr;

use libfuzzer_sys::fuzz_target;
use moshkit::c_api::*;
use moshkit::c_screen::*;
use moshkit::c_scrollback::*;
use moshkit::c_session::*;

const KEY: &str = "zr0jtuYVKJnfJHP/XOOsbQ";

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = usize::from(self.byte()).min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
}

/// A handle to pass: null, a live or freed one from `pool`, or a made-up value.
fn pick<T>(input: &mut Input<'_>, live: &[*mut T], freed: &[*mut T]) -> *mut T {
    let b = input.byte();
    match b % 4 {
        0 => ptr::null_mut(),
        1 if !live.is_empty() => live[usize::from(b / 4) % live.len()],
        2 if !freed.is_empty() => freed[usize::from(b / 4) % freed.len()],
        _ => (usize::from(input.u16()).wrapping_mul(0x1_0001) | 1) as *mut T,
    }
}

fn cstring(input: &mut Input<'_>) -> Option<CString> {
    let mut bytes = input.bytes();
    bytes.retain(|&b| b != 0);
    CString::new(bytes).ok()
}

fn callbacks(input: &mut Input<'_>) -> Option<MoshkitCallbacks> {
    let size = usize::from(input.byte()) * 4;
    (size > 0).then(|| MoshkitCallbacks {
        struct_size: size.min(std::mem::size_of::<MoshkitCallbacks>()),
        context: ptr::null_mut(),
        on_screen_changed: None,
        on_connection_state: None,
        on_bell: None,
        on_title: None,
        on_clipboard: None,
        on_closed: None,
        on_resumed: None,
        on_scrollback_changed: None,
        on_scrollback_fetched: None,
    })
}

#[derive(Default)]
struct Pools {
    sessions: Vec<*mut MoshkitSession>,
    freed_sessions: Vec<*mut MoshkitSession>,
    screens: Vec<*mut MoshkitScreen>,
    freed_screens: Vec<*mut MoshkitScreen>,
    lines: Vec<*mut MoshkitScrollbackLines>,
    freed_lines: Vec<*mut MoshkitScrollbackLines>,
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut p = Pools::default();
    let key = CString::new(KEY).unwrap_or_default();
    let host = CString::new("127.0.0.1").unwrap_or_default();
    for _ in 0..64 {
        if input.0.is_empty() {
            break;
        }
        let op = input.byte();
        // SAFETY (every call below): pointers are null, made-up handles (which the library
        // must reject), or point to live locals of the sizes passed.
        unsafe {
            match op % 18 {
                0 if p.sessions.len() < 2 => {
                    let cb = callbacks(&mut input);
                    let cbp = cb.as_ref().map_or(ptr::null(), |c| c as *const _);
                    let mut out = ptr::null_mut();
                    let (cols, rows, pred) = (input.u16(), input.u16(), u32::from(input.byte()));
                    let opts = MoshkitSessionOptions {
                        struct_size: usize::from(input.byte()),
                        scrollback_lines: input.u32(),
                    };
                    let optp = if opts.struct_size % 2 == 0 {
                        ptr::null()
                    } else {
                        &opts
                    };
                    let keyp = if input.byte() % 5 == 0 {
                        ptr::null()
                    } else {
                        key.as_ptr()
                    };
                    let _ = moshkit_session_connect_with_options(
                        host.as_ptr(),
                        9,
                        keyp,
                        cols,
                        rows,
                        pred,
                        cbp,
                        optp,
                        &mut out,
                    );
                    if !out.is_null() {
                        p.sessions.push(out);
                    }
                }
                1 if p.sessions.len() < 2 => {
                    let blob = input.bytes();
                    let mut out = ptr::null_mut();
                    let _ =
                        moshkit_session_restore(blob.as_ptr(), blob.len(), ptr::null(), &mut out);
                    if !out.is_null() {
                        p.sessions.push(out);
                    }
                }
                2 => {
                    let s = pick(&mut input, &p.sessions, &p.freed_sessions);
                    let cap = usize::from(input.u16());
                    let mut buf = vec![0u8; cap];
                    let mut len = cap;
                    let bufp = if input.byte() % 3 == 0 {
                        ptr::null_mut()
                    } else {
                        buf.as_mut_ptr()
                    };
                    if bufp.is_null() {
                        len = 0;
                    }
                    let _ = moshkit_session_save_state(s, bufp, &mut len);
                }
                3 => {
                    let s = pick(&mut input, &p.sessions, &p.freed_sessions);
                    let bytes = input.bytes();
                    let _ = moshkit_session_send_input(s, bytes.as_ptr(), bytes.len());
                    let _ = moshkit_session_send_input(s, ptr::null(), 0);
                }
                4 => {
                    let s = pick(&mut input, &p.sessions, &p.freed_sessions);
                    let text = cstring(&mut input);
                    let _ =
                        moshkit_session_paste(s, text.as_ref().map_or(ptr::null(), |t| t.as_ptr()));
                }
                5 => {
                    let s = pick(&mut input, &p.sessions, &p.freed_sessions);
                    let _ = moshkit_session_resize(s, input.u16(), input.u16());
                }
                6 => {
                    let s = pick(&mut input, &p.sessions, &p.freed_sessions);
                    let _ = match input.byte() % 4 {
                        0 => moshkit_session_network_changed(s),
                        1 => moshkit_session_pause(s),
                        2 => moshkit_session_resume(s),
                        _ => moshkit_session_close(s),
                    };
                }
                7 => {
                    let s = pick(&mut input, &p.sessions, &p.freed_sessions);
                    let _ = moshkit_session_free(s);
                    if let Some(i) = p.sessions.iter().position(|&x| x == s) {
                        p.freed_sessions.push(p.sessions.swap_remove(i));
                    }
                }
                8 => {
                    let s = pick(&mut input, &p.sessions, &p.freed_sessions);
                    let mut state = MaybeUninit::<MoshkitConnectionState>::uninit();
                    let mut reason = MaybeUninit::<MoshkitCloseReason>::uninit();
                    let mut stats = MaybeUninit::<MoshkitStats>::uninit();
                    let null = input.byte();
                    let sp = if null & 1 == 0 {
                        state.as_mut_ptr()
                    } else {
                        ptr::null_mut()
                    };
                    let rp = if null & 2 == 0 {
                        reason.as_mut_ptr()
                    } else {
                        ptr::null_mut()
                    };
                    let tp = if null & 4 == 0 {
                        stats.as_mut_ptr()
                    } else {
                        ptr::null_mut()
                    };
                    let _ = moshkit_session_connection_state(s, sp, rp);
                    let _ = moshkit_session_stats(s, tp);
                }
                9 => {
                    let s = pick(&mut input, &p.sessions, &p.freed_sessions);
                    let mut out = ptr::null_mut();
                    let _ = if input.byte() % 2 == 0 {
                        moshkit_session_pull_changes(s, &mut out)
                    } else {
                        moshkit_session_snapshot(s, &mut out)
                    };
                    if !out.is_null() {
                        p.screens.push(out);
                    }
                }
                10 => {
                    let sc = pick(&mut input, &p.screens, &p.freed_screens);
                    let i = usize::from(input.u16());
                    let col = input.u16();
                    let mut info = MaybeUninit::<MoshkitScreenInfo>::uninit();
                    let mut row = 0u16;
                    let mut cell = MaybeUninit::<MoshkitCell>::uninit();
                    let cap = usize::from(input.u16());
                    let mut buf = vec![0 as c_char; cap];
                    let mut len = 0usize;
                    let _ = moshkit_screen_info(sc, info.as_mut_ptr());
                    let _ = moshkit_screen_row_index(sc, i, &mut row);
                    let _ = moshkit_screen_cell(sc, i, col, cell.as_mut_ptr());
                    let bufp = if cap == 0 {
                        ptr::null_mut()
                    } else {
                        buf.as_mut_ptr()
                    };
                    let _ = moshkit_screen_row_text(sc, i, bufp, cap, &mut len);
                }
                11 => {
                    let sc = pick(&mut input, &p.screens, &p.freed_screens);
                    let _ = moshkit_screen_free(sc);
                    if let Some(i) = p.screens.iter().position(|&x| x == sc) {
                        p.freed_screens.push(p.screens.swap_remove(i));
                    }
                }
                12 => {
                    let s = pick(&mut input, &p.sessions, &p.freed_sessions);
                    let (mut first, mut end) = (0u64, 0u64);
                    let mut mode = MaybeUninit::<MoshkitScrollbackMode>::uninit();
                    let _ = moshkit_session_scrollback_range(s, &mut first, &mut end);
                    let _ = moshkit_session_scrollback_mode(s, mode.as_mut_ptr());
                    let _ = moshkit_session_request_scrollback(s, input.u64(), input.u64());
                }
                13 => {
                    let s = pick(&mut input, &p.sessions, &p.freed_sessions);
                    let mut out = ptr::null_mut();
                    let _ = moshkit_session_scrollback_lines(s, input.u64(), input.u32(), &mut out);
                    if !out.is_null() {
                        p.lines.push(out);
                    }
                }
                14 => {
                    let l = pick(&mut input, &p.lines, &p.freed_lines);
                    let i = usize::from(input.u16());
                    let col = input.u16();
                    let mut count = 0usize;
                    let mut info = MaybeUninit::<MoshkitScrollbackLineInfo>::uninit();
                    let mut cell = MaybeUninit::<MoshkitCell>::uninit();
                    let cap = usize::from(input.u16());
                    let mut buf = vec![0 as c_char; cap];
                    let mut len = 0usize;
                    let _ = moshkit_scrollback_line_count(l, &mut count);
                    let _ = moshkit_scrollback_line_info(l, i, info.as_mut_ptr());
                    let _ = moshkit_scrollback_cell(l, i, col, cell.as_mut_ptr());
                    let bufp = if cap == 0 {
                        ptr::null_mut()
                    } else {
                        buf.as_mut_ptr()
                    };
                    let _ = moshkit_scrollback_line_text(l, i, bufp, cap, &mut len);
                }
                15 => {
                    let l = pick(&mut input, &p.lines, &p.freed_lines);
                    let _ = moshkit_scrollback_free(l);
                    if let Some(i) = p.lines.iter().position(|&x| x == l) {
                        p.freed_lines.push(p.lines.swap_remove(i));
                    }
                }
                16 => {
                    let (kind, value, mods) = (input.u32() % 64, input.u32(), input.u32());
                    let cap = usize::from(input.byte());
                    let mut buf = vec![0u8; cap];
                    let mut len = cap;
                    let bufp = if cap == 0 {
                        ptr::null_mut()
                    } else {
                        buf.as_mut_ptr()
                    };
                    let _ = moshkit_encode_key(kind, value, mods, bufp, &mut len);
                    let _ = moshkit_encode_key(kind, value, mods, bufp, ptr::null_mut());
                }
                _ => {
                    let text = cstring(&mut input);
                    let tp = text.as_ref().map_or(ptr::null(), |t| t.as_ptr());
                    let _ = moshkit_validate_session_key(tp);
                    let mut mode = MaybeUninit::<MoshkitPredictionMode>::uninit();
                    let _ = moshkit_parse_prediction_mode(tp, mode.as_mut_ptr());
                    let cap = usize::from(input.byte());
                    let mut buf = vec![0 as c_char; cap];
                    let bufp = if cap == 0 {
                        ptr::null_mut()
                    } else {
                        buf.as_mut_ptr()
                    };
                    let _ = moshkit_last_error_message_copy(bufp, cap);
                    let _ = moshkit_last_error_message();
                }
            }
        }
    }
    // Every handle left is a live one from the library.
    for l in p.lines {
        let _ = moshkit_scrollback_free(l);
    }
    for sc in p.screens {
        let _ = moshkit_screen_free(sc);
    }
    for s in p.sessions {
        let _ = moshkit_session_close(s);
        let _ = moshkit_session_free(s);
    }
});
