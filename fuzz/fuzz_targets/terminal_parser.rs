//! Arbitrary bytes into the emulator (as host output, in arbitrary chunks, with resizes):
//! never panics, and the framebuffer invariants hold after every step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moshkit_core::terminal::Terminal;

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let width = 1 + usize::from(head & 0x3f);
    let height = 1 + usize::from(head >> 6) * 8;
    let Ok(mut t) = Terminal::new(width, height) else {
        return;
    };
    // 0xFF bytes split the input into chunks; a chunk starting with 0xFE resizes.
    for chunk in rest.split(|&b| b == 0xff) {
        if let [0xfe, w, h, ..] = chunk {
            let _ = t.resize(1 + usize::from(*w & 0x7f), 1 + usize::from(*h & 0x3f));
        }
        t.feed(chunk);
        if let Err(e) = t.framebuffer().check_invariants() {
            panic!("invariant violated: {e}");
        }
        let _ = t.take_replies();
        let _ = t.translate_user_input(chunk);
    }
});
