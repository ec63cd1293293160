//! Property tests for the datagram layer: round trips, and arbitrary untrusted input always
//! answered with a typed error rather than a panic.
#![allow(clippy::unwrap_used)]

use moshkit_core::crypto::{Direction, Key, Nonce, Session};
use moshkit_core::fragment::{Fragment, FragmentAssembly, Fragmenter};
use moshkit_core::packet::{Packet, PacketCodec};
use moshkit_core::wire::{HostMessage, TransportInstruction, UserMessage};
use proptest::prelude::*;
use prost::Message as _;

fn instruction() -> impl Strategy<Value = TransportInstruction> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..6000),
        prop::collection::vec(any::<u8>(), 0..17),
    )
        .prop_map(|(o, n, a, t, diff, chaff)| TransportInstruction::new(o, n, a, t, diff, chaff))
}

proptest! {
    #[test]
    fn key_printable_round_trip(bytes in any::<[u8; 16]>()) {
        let key = Key::from_bytes(bytes);
        let printable = key.to_string();
        prop_assert_eq!(printable.len(), 22);
        prop_assert_eq!(Key::parse(&printable).unwrap(), key);
    }

    #[test]
    fn key_parse_never_panics(s in ".{0,30}") {
        let _ = Key::parse(&s);
    }

    #[test]
    fn packet_round_trip(
        seq in 0u64..(1 << 63),
        ts in 0u16..0xFFFF,
        reply in prop::option::of(0u16..0xFFFF),
        payload in prop::collection::vec(any::<u8>(), 0..1500),
        to_client in any::<bool>(),
        key in any::<[u8; 16]>(),
    ) {
        let mut s = Session::new(&Key::from_bytes(key));
        let direction = if to_client { Direction::ToClient } else { Direction::ToServer };
        let p = Packet { direction, seq, timestamp: ts, timestamp_reply: reply, payload };
        let d = p.seal(&mut s).unwrap();
        prop_assert_eq!(Packet::open(&s, &d, direction).unwrap(), p);
    }

    #[test]
    fn arbitrary_datagrams_are_rejected_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let s = Session::new(&Key::from_bytes([3; 16]));
        prop_assert!(Packet::open(&s, &bytes, Direction::ToClient).is_err());
        let mut codec = PacketCodec::new(&Key::from_bytes([3; 16]), Direction::ToServer);
        prop_assert!(codec.open(0, &bytes, false).is_err());
    }

    #[test]
    fn bit_flips_never_authenticate(
        payload in prop::collection::vec(any::<u8>(), 0..200),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut s = Session::new(&Key::from_bytes([5; 16]));
        let mut d = s.seal(Nonce { direction: Direction::ToServer, seq: 1 }, &payload).unwrap();
        let i = pos.index(d.len());
        d[i] ^= 1 << bit;
        prop_assert!(s.open(&d).is_err());
    }

    #[test]
    fn fragments_reassemble_in_any_order(
        inst in instruction(),
        mtu in 60usize..1500,
        order in Just(()).prop_perturb(|_, mut rng| rng.next_u64()),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
    ) {
        let mut fragmenter = Fragmenter::new();
        let frags = fragmenter.make_fragments(&inst, mtu);
        let mut shuffled: Vec<Fragment> = frags.clone();
        for d in &dups {
            shuffled.push(frags[d.index(frags.len())].clone());
        }
        // Deterministic shuffle from the drawn seed.
        let mut x = order | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut a = FragmentAssembly::new();
        let mut done = vec![];
        for f in shuffled {
            // Re-encode on the way, as the network would.
            let f = Fragment::decode(&f.encode()).unwrap();
            done.extend(a.add(f).unwrap());
        }
        // Duplicates arriving after completion start a new partial assembly that never
        // completes, which is harmless; the instruction itself completes exactly once unless a
        // duplicate of a one-fragment instruction re-delivers it.
        prop_assert!(!done.is_empty());
        prop_assert!(done.iter().all(|d| *d == inst));
    }

    #[test]
    fn arbitrary_fragments_never_panic(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..40),
    ) {
        let mut a = FragmentAssembly::new();
        for p in payloads {
            if let Ok(f) = Fragment::decode(&p) {
                let _ = a.add(f);
            }
        }
        prop_assert!(a.in_progress() <= moshkit_core::fragment::MAX_ASSEMBLIES);
    }

    #[test]
    fn arbitrary_messages_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = TransportInstruction::decode_bytes(&bytes);
        let _ = UserMessage::decode(&*bytes);
        let _ = HostMessage::decode(&*bytes);
    }

    #[test]
    fn instruction_round_trip(inst in instruction()) {
        let bytes = inst.encode_to_vec();
        prop_assert_eq!(TransportInstruction::decode_bytes(&bytes).unwrap(), inst);
    }
}
