//! The bounds a hostile or careless peer meets (docs/testing.md, "Limits on hostile peers"):
//! each limit is hit on purpose and the session goes on.
#![allow(clippy::unwrap_used)]

mod support {
    pub mod netsim;
    pub mod session_sim;
}

use std::time::{Duration, Instant};

use moshkit_core::fragment::{
    Fragment, FragmentAssembly, MAX_ASSEMBLIES, MAX_BUFFERED_BYTES, MAX_DECOMPRESSED_LEN, compress,
    decompress,
};
use moshkit_core::prediction::DisplayPreference;
use moshkit_core::session::HostState;
use moshkit_core::state::SyncState as _;
use moshkit_core::terminal::{CLIPBOARD_LIMIT, MAX_CELLS, OSC_LIMIT, Terminal};
use moshkit_core::wire::{HostInstruction, HostMessage};
use prost::Message as _;
use support::session_sim::SessionSim;

#[test]
fn a_resize_to_65535_by_65535_is_refused_without_allocating() {
    let mut state = HostState::new(80, 24).unwrap();
    let diff = HostMessage {
        instruction: vec![HostInstruction::resize(65535, 65535)],
    }
    .encode_to_vec();
    let start = Instant::now();
    assert!(state.apply_diff(&diff).is_err());
    // Refused before any row is made: far below what allocating 4 G cells would take.
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(state.framebuffer().width(), 80);
    // Every size the terminal accepts stays within MAX_CELLS cells (16 MiB of cells).
    assert!(Terminal::new(4096, 4096).is_err());
    assert!(Terminal::new(1024, 1024).is_ok());
    assert_eq!(MAX_CELLS, 1 << 20);

    // The same from a client's resize: the host refuses it, the session carries on.
    let mut sim = SessionSim::new(1, 50, 0.0, DisplayPreference::Never);
    sim.connect();
    let now = sim.t();
    sim.client.resize(now, 65535, 65535);
    sim.run_for(1000);
    assert_eq!(sim.host.state().framebuffer().width(), 80);
    sim.type_bytes(b"echo ok\r");
    sim.run_for(1000);
    assert!(sim.screen().iter().any(|r| r == "ok"), "{:?}", sim.screen());
}

#[test]
fn instructions_and_fragments_are_bounded() {
    // A decompression bomb stops at the limit.
    let bomb = compress(&vec![0u8; MAX_DECOMPRESSED_LEN + 1]);
    assert!(decompress(&bomb).is_err());
    // Fragments of more assemblies than allowed: the oldest are forgotten, memory stays put.
    let mut a = FragmentAssembly::new();
    for id in 0..(MAX_ASSEMBLIES as u64 * 4) {
        let f = Fragment {
            id,
            num: 0,
            is_final: false,
            contents: vec![1; 1000],
        };
        assert!(a.add(f).unwrap().is_none());
    }
    assert!(a.buffered_bytes() <= MAX_BUFFERED_BYTES);
    assert!(a.in_progress() <= MAX_ASSEMBLIES);
}

#[test]
fn osc_strings_titles_and_clipboard_are_bounded() {
    let mut t = Terminal::new(80, 24).unwrap();
    let mut long = b"\x1b]0;".to_vec();
    long.extend(std::iter::repeat_n(b'x', 10 * OSC_LIMIT));
    long.push(0x07);
    t.feed(&long);
    assert!(t.framebuffer().title().len() <= OSC_LIMIT);
    let mut clip = b"\x1b]52;c;".to_vec();
    clip.extend(std::iter::repeat_n(b'A', 10 * OSC_LIMIT));
    clip.push(0x07);
    t.feed(&clip);
    assert!(t.framebuffer().clipboard().len() <= CLIPBOARD_LIMIT);
    // An OSC that never ends does not grow without bound either, and printing resumes.
    t.feed(b"\x1b]2;");
    for _ in 0..1000 {
        t.feed(&[b'y'; 1024]);
    }
    t.feed(b"\x07hello");
    assert!(t.framebuffer().title().len() <= OSC_LIMIT);
    assert!(t.framebuffer().row_text(0).contains("hello"));
}

#[test]
fn a_host_printing_without_end_to_a_paused_client_stays_bounded() {
    let mut sim = SessionSim::new(2, 100, 0.0, DisplayPreference::Never);
    sim.connect();
    sim.client.pause();
    let mut chunk = Vec::new();
    for i in 0..2000 {
        chunk.extend_from_slice(format!("line {i} of endless output\r\n").as_bytes());
    }
    // A simulated minute of output, 60 KB every 100 ms (36 MB in all, 1.2 M lines).
    let mut peak = (0, 0);
    for step in 0..600 {
        let now = sim.t();
        sim.host.host_output(now, &chunk);
        sim.run_for(100);
        if step % 20 == 0 {
            let (sent, received) = sim.host.connection().queue_lengths();
            peak = (peak.0.max(sent), peak.1.max(received));
        }
    }
    assert!(peak.0 <= 33 && peak.1 <= 1024, "queues {peak:?}");
    assert!(sim.host.scrollback().len() <= moshkit_core::scrollback::DEFAULT_SCROLLBACK_LINES);
    // Back from the background: the client catches up at once.
    let now = sim.t();
    sim.client.resume(now);
    sim.run_for(3000);
    assert_eq!(
        sim.screen(),
        sim.host_screen()
            .iter()
            .map(|r| r.trim_end().to_owned())
            .collect::<Vec<_>>()
    );
}
