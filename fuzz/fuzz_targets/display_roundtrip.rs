//! Frame differ round trip: a host screen A (from the first part of the input) and B (A plus
//! the rest); a replica built only from diffs must equal A, then B.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moshkit_core::display::new_frame;
use moshkit_core::terminal::Terminal;

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else { return };
    let width = 1 + usize::from(head & 0x1f);
    let height = 1 + usize::from(head >> 5);
    let Ok(mut host) = Terminal::new(width, height) else { return };
    let mut parts = rest.splitn(2, |&b| b == 0xff);
    host.feed(parts.next().unwrap_or_default());
    let a = host.framebuffer().clone();
    let Ok(mut replica) = Terminal::new(width, height) else { return };
    replica.feed(&new_frame(false, replica.framebuffer(), &a));
    assert!(replica.framebuffer().eq_ignoring_bell(&a), "initial frame");
    assert!(replica.take_replies().is_empty());
    host.feed(parts.next().unwrap_or_default());
    let b = host.framebuffer().clone();
    let diff = new_frame(true, &a, &b);
    replica.feed(&diff);
    assert!(replica.framebuffer().eq_ignoring_bell(&b), "diff {:?}", String::from_utf8_lossy(&diff));
});
