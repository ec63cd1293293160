//! Frame differ round trip: a host screen A (from the first part of the input) and B (A plus
//! the rest, possibly after a resize); a replica built only from diffs must equal A, then B,
//! for every display capability set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moshkit_core::display::{DisplayCaps, new_frame_with};
use moshkit_core::terminal::Terminal;

fuzz_target!(|data: &[u8]| {
    let [head, caps_bits, rest @ ..] = data else {
        return;
    };
    let width = 1 + usize::from(head & 0x1f);
    let height = 1 + usize::from(head >> 5);
    let caps = DisplayCaps {
        ech: caps_bits & 1 != 0,
        bce: caps_bits & 2 != 0,
        titles: true,
    };
    let Ok(mut host) = Terminal::new(width, height) else {
        return;
    };
    let mut parts = rest.splitn(2, |&b| b == 0xff);
    host.feed(parts.next().unwrap_or_default());
    let a = host.framebuffer().clone();
    let Ok(mut replica) = Terminal::new(width, height) else {
        return;
    };
    replica.feed(&new_frame_with(caps, false, replica.framebuffer(), &a));
    assert!(replica.framebuffer().eq_ignoring_bell(&a), "initial frame");
    assert!(replica.take_replies().is_empty());
    let second = parts.next().unwrap_or_default();
    if let [0xfe, w, h, ..] = second {
        let (w, h) = (1 + usize::from(*w & 0x3f), 1 + usize::from(*h & 0x1f));
        if host.resize(w, h).is_err() || replica.resize(w, h).is_err() {
            return;
        }
    }
    host.feed(second);
    let b = host.framebuffer().clone();
    let diff = new_frame_with(caps, true, &a, &b);
    replica.feed(&diff);
    assert!(
        replica.framebuffer().eq_ignoring_bell(&b),
        "diff {:?}",
        String::from_utf8_lossy(&diff)
    );
});
