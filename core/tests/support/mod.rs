//! Helpers shared by the live interop tests: start the real upstream `mosh-server` on loopback
//! and make sure it is stopped afterwards.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running upstream `mosh-server`, killed by pid when dropped.
#[derive(Debug)]
pub struct UpstreamServer {
    /// UDP port it listens on (127.0.0.1).
    pub port: u16,
    /// The printable session key.
    pub key: String,
    /// Pid of the detached daemon.
    pub pid: u32,
}

impl UpstreamServer {
    /// Start `mosh-server new -s -i 127.0.0.1 -p <free port> -l LANG=C.UTF-8 -- <command>`.
    /// Panics (the test fails, it never skips) when mosh-server is not installed.
    pub fn start(command: &[&str]) -> Self {
        Self::start_on("127.0.0.1", command)
    }

    /// As [`UpstreamServer::start`], bound to `ip` (e.g. `::1`).
    pub fn start_on(ip: &str, command: &[&str]) -> Self {
        let port = free_udp_port_on(ip);
        let out = Command::new("mosh-server")
            .args(["new", "-s", "-i", ip, "-p", &port.to_string()])
            .args(["-l", "LANG=C.UTF-8", "--"])
            .args(command)
            .env("LANG", "C.UTF-8")
            .env_remove("SSH_CONNECTION")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run mosh-server ({e}); install the Debian package `mosh`")
            });
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "mosh-server failed: {stdout}\n{stderr}"
        );
        let (port, key) = parse_connect_line(&stdout)
            .unwrap_or_else(|| panic!("no MOSH CONNECT line in {stdout:?} / {stderr:?}"));
        let pid = stderr
            .split("detached, pid = ")
            .nth(1)
            .and_then(|s| s.trim_start().split(']').next())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in mosh-server's stderr: {stderr:?}"));
        UpstreamServer { port, key, pid }
    }

    /// Whether the daemon is still running.
    pub fn is_running(&self) -> bool {
        std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
    }

    /// Wait up to `limit` for the daemon to exit.
    pub fn wait_exit(&self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if !self.is_running() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status();
            if !self.wait_exit(Duration::from_secs(2)) {
                let _ = Command::new("kill")
                    .args(["-KILL", &self.pid.to_string()])
                    .status();
            }
        }
    }
}

/// Play a minimal client made only of the wire layer (crypto, packet, fragment, wire; no SSP
/// state machine) against `server`: send a resize, then `command` once the shell has drawn
/// something, and collect host messages until their text contains `marker`. Returns the text
/// (escape sequences stripped) and the number of instructions received.
pub fn run_over_wire(
    server: &UpstreamServer,
    command: &str,
    marker: &str,
    limit: Duration,
) -> Result<(String, usize), String> {
    use moshkit_core::crypto::{Direction, Key};
    use moshkit_core::fragment::{Fragment, FragmentAssembly, Fragmenter, IPV4_MTU};
    use moshkit_core::packet::PacketCodec;
    use moshkit_core::wire::{
        HostMessage, PROTOCOL_VERSION, TransportInstruction, UserInstruction, UserMessage,
    };
    use prost::Message as _;
    use std::collections::BTreeMap;
    use std::net::UdpSocket;

    let key = Key::parse(&server.key).map_err(|e| format!("bad key from server: {e}"))?;
    let seeds = FuzzSeeds::from_env();
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    sock.connect(("127.0.0.1", server.port))
        .map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| e.to_string())?;

    let epoch = Instant::now();
    let now_ms = || epoch.elapsed().as_millis() as u64;
    let mut codec = PacketCodec::new(&key, Direction::ToServer);
    let mut fragmenter = Fragmenter::new();
    let mut assembly = FragmentAssembly::new();

    // Our states: 1 = [resize], 2 = [resize, keys]. Host states: num -> accumulated host bytes
    // (the concatenation of diffs from the blank initial state).
    let resize = UserInstruction::resize(80, 24);
    let keys = UserInstruction::keys(command.as_bytes().to_vec());
    let mut host_states: BTreeMap<u64, Vec<u8>> = BTreeMap::from([(0, Vec::new())]);
    let mut server_acked = 0u64;
    let mut our_newest = 1u64;
    let mut last_send = None::<Instant>;
    let mut received = 0usize;
    let mut buf = [0u8; 2048];

    let start = Instant::now();
    loop {
        if start.elapsed() > limit {
            let screens: Vec<String> = host_states.values().map(|b| strip_escapes(b)).collect();
            return Err(format!(
                "{marker:?} not seen within {limit:?}; host states: {screens:?}"
            ));
        }
        // Once the shell has drawn anything, type the command.
        if our_newest == 1 && host_states.len() > 1 {
            our_newest = 2;
            last_send = None;
        }
        if last_send.is_none_or(|t| t.elapsed() > Duration::from_millis(100)) {
            let (old, events) = match (our_newest, server_acked) {
                (1, 0) => (0, vec![resize.clone()]),
                (1, _) => (1, vec![]),
                (_, 0) => (0, vec![resize.clone(), keys.clone()]),
                (_, 1) => (1, vec![keys.clone()]),
                _ => (2, vec![]),
            };
            let diff = if events.is_empty() {
                vec![]
            } else {
                UserMessage {
                    instruction: events,
                }
                .encode_to_vec()
            };
            let ack = host_states.keys().next_back().copied().unwrap_or(0);
            let inst = TransportInstruction::new(old, our_newest, ack, server_acked, diff, vec![]);
            for f in fragmenter.make_fragments(&inst, IPV4_MTU) {
                let datagram = codec
                    .seal(now_ms(), f.encode())
                    .map_err(|e| e.to_string())?;
                sock.send(&datagram).map_err(|e| e.to_string())?;
            }
            last_send = Some(Instant::now());
        }
        let len = match sock.recv(&mut buf) {
            Ok(len) => len,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(format!("recv: {e}")),
        };
        let got = codec
            .open(now_ms(), &buf[..len], false)
            .map_err(|e| format!("server datagram rejected: {e}"))?;
        seeds.save(
            "datagram_open",
            &[key.as_bytes().as_slice(), &buf[..len]].concat(),
        );
        let fragment = Fragment::decode(&got.payload).map_err(|e| e.to_string())?;
        seeds.save(
            "fragment_reassembly",
            &[
                &[u8::try_from(got.payload.len()).unwrap_or(255)],
                got.payload.as_slice(),
            ]
            .concat(),
        );
        let Some(inst) = assembly.add(fragment).map_err(|e| e.to_string())? else {
            continue;
        };
        seeds.save("instruction_decode", &inst.encode_to_vec());
        received += 1;
        if inst.protocol_version != Some(PROTOCOL_VERSION) {
            return Err(format!("protocol version {:?}", inst.protocol_version));
        }
        server_acked = server_acked.max(inst.ack_num.unwrap_or(0).min(our_newest));
        let (Some(old), Some(new)) = (inst.old_num, inst.new_num) else {
            return Err("instruction without state numbers".into());
        };
        let Some(mut bytes) = host_states.get(&old).cloned() else {
            continue;
        };
        let diff = HostMessage::decode(inst.diff.as_deref().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        seeds.save(
            "scrollback_messages",
            inst.diff.as_deref().unwrap_or_default(),
        );
        for i in diff.instruction {
            if let Some(hb) = i.hostbytes {
                let hs = hb.hoststring.unwrap_or_default();
                // 64 columns, 25 rows (the target's first byte), then the bytes.
                seeds.save("terminal_parser", &[&[0xff_u8], hs.as_slice()].concat());
                seeds.save(
                    "display_roundtrip",
                    &[&[0x1f_u8, 0xff], hs.as_slice()].concat(),
                );
                bytes.extend(hs);
            }
        }
        let text = strip_escapes(&bytes);
        host_states.insert(new, bytes);
        if text.contains(marker) && server_acked >= 1 {
            return Ok((text, received));
        }
    }
}

/// With `MOSHKIT_FUZZ_SEEDS=DIR`, inputs seen in a real session are written to
/// `DIR/<target>/<hash>` as seeds for the fuzz targets' corpora (`scripts/fuzz.sh --seed`).
pub struct FuzzSeeds(Option<std::path::PathBuf>);

impl FuzzSeeds {
    pub fn from_env() -> Self {
        FuzzSeeds(std::env::var_os("MOSHKIT_FUZZ_SEEDS").map(Into::into))
    }

    pub fn save(&self, target: &str, data: &[u8]) {
        use std::hash::{Hash as _, Hasher as _};
        let Some(dir) = &self.0 else { return };
        if data.len() > 4096 {
            return;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        data.hash(&mut h);
        let dir = dir.join(target);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("live-{:016x}", h.finish())), data);
    }
}

/// Parse `MOSH CONNECT <port> <key>` from the server's output.
pub fn parse_connect_line(text: &str) -> Option<(u16, String)> {
    text.lines().find_map(|l| {
        let mut w = l.trim().strip_prefix("MOSH CONNECT ")?.split_whitespace();
        Some((w.next()?.parse().ok()?, w.next()?.to_owned()))
    })
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    free_udp_port_on("127.0.0.1")
}

/// A UDP port on `ip` that was free a moment ago.
pub fn free_udp_port_on(ip: &str) -> u16 {
    let ip: std::net::IpAddr = ip.parse().unwrap();
    let s = std::net::UdpSocket::bind((ip, 0)).unwrap();
    s.local_addr().unwrap().port()
}

/// A random-enough number for markers (no extra dependency).
pub fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    (h.finish() % 900_000 + 100_000) as u32
}

/// Drop ANSI escape and control sequences, keeping printable text and newlines.
pub fn strip_escapes(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\x1b' => match it.next() {
                Some('[') => {
                    for d in it.by_ref() {
                        if ('\x40'..='\x7e').contains(&d) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(d) = it.next() {
                        if d == '\x07' {
                            break;
                        }
                        if d == '\x1b' {
                            it.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\n' => out.push('\n'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
