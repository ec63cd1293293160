//! A client session and a host session joined by a simulated network in virtual time, with a
//! shell-like line editor as the host application. Used by the scenario tests and the prediction
//! benchmark.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moshkit_core::connection::Config;
use moshkit_core::crypto::Key;
use moshkit_core::prediction::DisplayPreference;
use moshkit_core::session::{
    ClientConfig, ClientEvent, ClientSession, HostEvent, HostSession, ScreenUpdate,
};
use moshkit_core::transport::SplitMix64;

use super::netsim::{Link, Network};

/// A tiny full-screen editor (the `edit` command): insert mode only, arrows move (Up/Down keep
/// a goal column across shorter lines, as vi, nano and emacs do), Enter splits the line and
/// redraws, Ctrl-X quits. The `vi` command opens it in a normal mode where typed keys are
/// commands and nothing is echoed: `i` shows `-- INSERT --` on the last row and starts
/// inserting (as vim does).
#[derive(Debug, Default)]
pub struct Editor {
    lines: Vec<Vec<char>>,
    row: usize,
    col: usize,
    goal: Option<usize>,
    /// `Some(false)` in vi's normal mode, `Some(true)` inserting, `None` for `edit`.
    modal: Option<bool>,
}

impl Editor {
    fn open() -> (Editor, String) {
        let lines: Vec<Vec<char>> = ["fn main() {", "    println!(\"hello\");", "}"]
            .iter()
            .map(|l| l.chars().collect())
            .collect();
        let mut e = Editor {
            lines,
            row: 1,
            col: 4,
            goal: None,
            modal: None,
        };
        let out = e.redraw();
        (e, out)
    }

    fn redraw(&mut self) -> String {
        let mut out = String::from("\x1b[H\x1b[2J");
        for (i, l) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push_str("\r\n");
            }
            out.extend(l.iter());
        }
        out.push_str(&format!("\x1b[{};{}H", self.row + 1, self.col + 1));
        out
    }

    /// Returns the output, and whether the editor quit.
    fn key(&mut self, key: &[u8]) -> (String, bool) {
        let mut out = String::new();
        if self.modal == Some(false) {
            match key {
                [0x18] => return (String::new(), true),
                [b'i'] => {
                    self.modal = Some(true);
                    out.push_str(&format!(
                        "\x1b[24;1H-- INSERT --\x1b[{};{}H",
                        self.row + 1,
                        self.col + 1
                    ));
                }
                _ => {}
            }
            return (out, false);
        }
        let vertical = matches!(key, [0x1b, _, b'A' | b'B']);
        let goal = if vertical {
            *self.goal.get_or_insert(self.col)
        } else {
            self.goal = None;
            self.col
        };
        match key {
            [0x18] => return (String::new(), true),
            [0x1b, _, b'A'] if self.row > 0 => {
                self.row -= 1;
                self.col = goal.min(self.lines[self.row].len());
                out.push_str(&format!("\x1b[{};{}H", self.row + 1, self.col + 1));
            }
            [0x1b, _, b'B'] if self.row + 1 < self.lines.len() => {
                self.row += 1;
                self.col = goal.min(self.lines[self.row].len());
                out.push_str(&format!("\x1b[{};{}H", self.row + 1, self.col + 1));
            }
            [0x1b, _, b'C'] if self.col < self.lines[self.row].len() => {
                out.push(self.lines[self.row][self.col]);
                self.col += 1;
            }
            [0x1b, _, b'D'] if self.col > 0 => {
                self.col -= 1;
                out.push('\x08');
            }
            [b'\r'] => {
                let rest = self.lines[self.row].split_off(self.col);
                self.lines.insert(self.row + 1, rest);
                self.row += 1;
                self.col = 0;
                out = self.redraw();
            }
            [0x7f] if self.col > 0 => {
                self.col -= 1;
                self.lines[self.row].remove(self.col);
                let rest: String = self.lines[self.row][self.col..].iter().collect();
                out.push('\x08');
                out.push_str(&rest);
                out.push(' ');
                for _ in 0..=rest.chars().count() {
                    out.push('\x08');
                }
            }
            _ => {
                if let Ok(text) = std::str::from_utf8(key) {
                    for ch in text.chars().filter(|c| !c.is_control()) {
                        self.lines[self.row].insert(self.col, ch);
                        self.col += 1;
                        out.push(ch);
                        let rest: String = self.lines[self.row][self.col..].iter().collect();
                        out.push_str(&rest);
                        for _ in 0..rest.chars().count() {
                            out.push('\x08');
                        }
                    }
                }
            }
        }
        (out, false)
    }
}

/// A line editor like a shell's: echoes typed characters (unless reading a password), handles
/// backspace and left/right arrows with redraws, and answers Enter with output and a prompt.
/// The command `edit` opens a small full-screen [`Editor`]; `sudo` asks for a password.
#[derive(Debug, Default)]
pub struct FakeShell {
    editor: Option<Editor>,
    line: Vec<char>,
    pos: usize,
    password: bool,
    esc: Vec<u8>,
    utf8: Vec<u8>,
    /// Commands completed.
    pub commands: Vec<String>,
    /// Every byte the application received.
    pub received: Vec<u8>,
}

pub const PROMPT: &str = "$ ";

impl FakeShell {
    /// The application's output for `input` (bytes from the pty).
    pub fn input(&mut self, input: &[u8]) -> Vec<u8> {
        self.received.extend_from_slice(input);
        let mut out = String::new();
        for &b in input {
            if let Some(editor) = self.editor.as_mut() {
                // Gather one key (an escape sequence or one UTF-8 character) for the editor.
                self.esc.push(b);
                let key = self.esc.clone();
                let complete = match key.as_slice() {
                    [0x1b] | [0x1b, b'[' | b'O'] => false,
                    [0x1b, ..] => true,
                    bytes => std::str::from_utf8(bytes).is_ok() || bytes.len() >= 4,
                };
                if !complete {
                    continue;
                }
                self.esc.clear();
                let (text, quit) = editor.key(&key);
                out.push_str(&text);
                if quit {
                    self.editor = None;
                    out.push_str("\x1b[H\x1b[2J");
                    out.push_str(PROMPT);
                }
                continue;
            }
            if !self.esc.is_empty() {
                self.esc.push(b);
                let seq = self.esc.clone();
                match seq.as_slice() {
                    [0x1b] | [0x1b, b'['] | [0x1b, b'O'] => continue,
                    [0x1b, b'[' | b'O', b'D'] if self.pos > 0 => {
                        self.pos -= 1;
                        out.push('\x08');
                    }
                    [0x1b, b'[' | b'O', b'C'] if self.pos < self.line.len() => {
                        out.push(self.line[self.pos]);
                        self.pos += 1;
                    }
                    _ => {}
                }
                self.esc.clear();
                continue;
            }
            match b {
                0x1b => self.esc.push(b),
                b'\r' => {
                    let cmd: String = self.line.drain(..).collect();
                    self.pos = 0;
                    out.push_str("\r\n");
                    if self.password {
                        self.password = false;
                        out.push_str("authenticated\r\n");
                    } else if cmd == "edit" || cmd == "vi" {
                        let (mut editor, text) = Editor::open();
                        if cmd == "vi" {
                            editor.modal = Some(false);
                        }
                        self.editor = Some(editor);
                        out.push_str(&text);
                        self.commands.push(cmd);
                        continue;
                    } else if cmd == "sudo" {
                        self.password = true;
                        out.push_str("Password: ");
                        self.commands.push(cmd);
                        continue;
                    } else if let Some(arg) = cmd.strip_prefix("echo ") {
                        out.push_str(arg);
                        out.push_str("\r\n");
                    } else if !cmd.is_empty() {
                        out.push_str(&format!("{cmd}: done\r\n"));
                    }
                    self.commands.push(cmd);
                    out.push_str(PROMPT);
                }
                0x7f => {
                    if self.pos > 0 {
                        self.pos -= 1;
                        self.line.remove(self.pos);
                        if !self.password {
                            out.push('\x08');
                            let rest: String = self.line[self.pos..].iter().collect();
                            out.push_str(&rest);
                            out.push(' ');
                            for _ in 0..=rest.chars().count() {
                                out.push('\x08');
                            }
                        }
                    }
                }
                0x15 => {
                    // Ctrl-U: kill the line.
                    if !self.password {
                        for _ in 0..self.pos {
                            out.push('\x08');
                        }
                        out.push_str("\x1b[K");
                    }
                    self.line.clear();
                    self.pos = 0;
                }
                b if b < 0x20 => {}
                b => {
                    self.utf8.push(b);
                    let Ok(s) = std::str::from_utf8(&self.utf8) else {
                        if self.utf8.len() >= 4 {
                            self.utf8.clear();
                        }
                        continue;
                    };
                    let s = s.to_owned();
                    self.utf8.clear();
                    for ch in s.chars() {
                        self.line.insert(self.pos, ch);
                        self.pos += 1;
                        if !self.password {
                            out.push(ch);
                            let rest: String = self.line[self.pos..].iter().collect();
                            if !rest.is_empty() {
                                out.push_str(&rest);
                                for _ in 0..rest.chars().count() {
                                    out.push('\x08');
                                }
                            }
                        }
                    }
                }
            }
        }
        out.into_bytes()
    }
}

/// Both sessions and the network between them.
pub struct SessionSim {
    pub base: Instant,
    pub now: u64,
    pub net: Network,
    pub c2s: Link,
    pub s2c: Link,
    pub client: ClientSession,
    pub host: HostSession,
    pub shell: FakeShell,
    pub server_addr: SocketAddr,
    pub client_addr: SocketAddr,
    next_port: u16,
    /// Client events seen, with their time.
    pub client_events: Vec<(u64, ClientEvent)>,
    pub host_closed: bool,
    /// Virtual time (ms) at which the client screen last changed, per pull.
    pub pulls: Vec<(u64, ScreenUpdate)>,
    /// The nonce sequence number of every datagram the client sent, in order.
    pub client_seqs: Vec<u64>,
    /// The nonce sequence number of every datagram the host sent, in order.
    pub host_seqs: Vec<u64>,
    /// Every datagram the host sent (when `record_host` is set).
    pub host_datagrams: Vec<Vec<u8>>,
    pub record_host: bool,
    opener: moshkit_core::crypto::Session,
}

impl SessionSim {
    /// Client and host, `rtt_ms` apart (half each way), with `loss` each way.
    pub fn new(seed: u64, rtt_ms: u64, loss: f64, prediction: DisplayPreference) -> Self {
        let config = ClientConfig {
            prediction,
            escape_key_name: Some("Ctrl-^".into()),
            ..ClientConfig::default()
        };
        Self::with_config(seed, rtt_ms, loss, config)
    }

    /// As [`SessionSim::new`], with a full client configuration.
    pub fn with_config(seed: u64, rtt_ms: u64, loss: f64, config: ClientConfig) -> Self {
        let base = Instant::now();
        let key = Key::from_bytes([42; 16]);
        let server_addr: SocketAddr = "192.0.2.1:60001".parse().unwrap();
        let client_addr: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let client = ClientSession::new(
            &key,
            server_addr,
            80,
            24,
            config,
            base,
            Box::new(SplitMix64::new(seed ^ 0xc1)),
        )
        .unwrap();
        let host = HostSession::new(
            &key,
            80,
            24,
            Config::server(),
            base,
            Box::new(SplitMix64::new(seed ^ 0x5e)),
        )
        .unwrap();
        let link = Link {
            loss,
            dup: 0.0,
            delay_ms: rtt_ms / 2,
            jitter_ms: 0,
        };
        SessionSim {
            base,
            now: 0,
            net: Network::new(seed),
            c2s: link,
            s2c: link,
            client,
            host,
            shell: FakeShell::default(),
            server_addr,
            client_addr,
            next_port: 40001,
            client_events: Vec::new(),
            host_closed: false,
            pulls: Vec::new(),
            client_seqs: Vec::new(),
            host_seqs: Vec::new(),
            host_datagrams: Vec::new(),
            record_host: false,
            opener: moshkit_core::crypto::Session::new(&key),
        }
    }

    /// The current virtual instant.
    pub fn t(&self) -> Instant {
        self.base + Duration::from_millis(self.now)
    }

    fn flush(&mut self) {
        for _ in 0..10_000 {
            let now = self.t();
            let mut progress = false;
            while let Some(ev) = self.client.poll_event() {
                progress = true;
                if ev == ClientEvent::Rebind {
                    self.client_addr = format!("198.51.100.7:{}", self.next_port).parse().unwrap();
                    self.next_port += 1;
                }
                self.client_events.push((self.now, ev));
            }
            while let Some(ev) = self.host.poll_event() {
                progress = true;
                match ev {
                    HostEvent::FirstContact => self.host.host_output(now, PROMPT.as_bytes()),
                    HostEvent::Closed(_) => self.host_closed = true,
                    _ => {}
                }
            }
            let input = self.host.take_pty_input();
            if !input.is_empty() {
                progress = true;
                let out = self.shell.input(&input);
                if !out.is_empty() {
                    self.host.host_output(now, &out);
                }
            }
            while let Some(tx) = self.client.poll_transmit(now) {
                progress = true;
                if let Ok((nonce, _)) = self.opener.open(&tx.contents) {
                    self.client_seqs.push(nonce.seq);
                }
                self.net.send(
                    self.now,
                    self.c2s,
                    self.client_addr,
                    tx.destination,
                    tx.contents,
                );
            }
            while let Some(tx) = self.host.poll_transmit(now) {
                progress = true;
                if let Ok((nonce, _)) = self.opener.open(&tx.contents) {
                    self.host_seqs.push(nonce.seq);
                }
                if self.record_host {
                    self.host_datagrams.push(tx.contents.clone());
                }
                self.net.send(
                    self.now,
                    self.s2c,
                    self.server_addr,
                    tx.destination,
                    tx.contents,
                );
            }
            if !progress {
                return;
            }
        }
        panic!("livelock at {} ms", self.now);
    }

    /// Advance virtual time to `end` ms, delivering datagrams and firing timers.
    pub fn run_until(&mut self, end: u64) {
        let mut stuck = 0;
        loop {
            self.flush();
            let to_ms = |i: Option<Instant>, base: Instant| {
                i.map_or(u64::MAX, |i| {
                    i.saturating_duration_since(base).as_millis() as u64
                })
            };
            let now = self.t();
            let next = [
                self.net.next_arrival().unwrap_or(u64::MAX),
                to_ms(self.client.poll_timeout(now), self.base),
                to_ms(self.host.poll_timeout(now), self.base),
            ]
            .into_iter()
            .min()
            .unwrap_or(u64::MAX);
            if next > end {
                self.now = end;
                self.flush();
                return;
            }
            if next <= self.now {
                stuck += 1;
                assert!(stuck < 10_000, "no progress at {} ms", self.now);
            } else {
                stuck = 0;
            }
            self.now = self.now.max(next);
            let now = self.t();
            for f in self.net.due(self.now) {
                if f.to == self.server_addr {
                    self.host.handle_datagram(now, f.from, &f.data);
                } else if f.to == self.client_addr {
                    self.client.handle_datagram(now, f.from, &f.data);
                }
            }
            self.client.handle_timeout(now);
            self.host.handle_timeout(now);
        }
    }

    /// Advance by `ms`.
    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    /// The user types `bytes` now.
    pub fn type_bytes(&mut self, bytes: &[u8]) {
        let now = self.t();
        self.client.send_input(now, bytes);
        self.flush();
    }

    /// What the client shows now, row by row (trailing blanks trimmed).
    pub fn screen(&mut self) -> Vec<String> {
        let now = self.t();
        let snap = self.client.snapshot(now);
        snap.changed_rows
            .iter()
            .map(|r| {
                r.cells
                    .iter()
                    .map(|c| c.text.as_str())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect()
    }

    /// The cells the client shows as predictions now: (row, col, text, underlined).
    pub fn predicted_cells(&mut self) -> Vec<(u16, usize, String, bool)> {
        let now = self.t();
        let snap = self.client.snapshot(now);
        let mut out = Vec::new();
        for r in &snap.changed_rows {
            for (col, c) in r.cells.iter().enumerate() {
                if c.predicted {
                    out.push((
                        r.index,
                        col,
                        c.text.clone(),
                        c.attrs.contains(moshkit_core::terminal::Attrs::UNDERLINE),
                    ));
                }
            }
        }
        out
    }

    /// What the server's terminal shows, row by row.
    pub fn host_screen(&self) -> Vec<String> {
        let fb = self.host.state().framebuffer();
        (0..fb.height()).map(|r| fb.row_text(r)).collect()
    }

    /// The app is killed and a new process restores the client from `blob` (sent from a new
    /// port, as a new process would be). `wall_us` is the wall clock at the restore.
    pub fn kill_and_restore(&mut self, blob: &[u8], wall_us: u64, seed: u64) {
        let now = self.t();
        self.client = ClientSession::restore(blob, now, wall_us, Box::new(SplitMix64::new(seed)))
            .expect("restore");
        self.client_addr = format!("198.51.100.7:{}", self.next_port).parse().unwrap();
        self.next_port += 1;
        self.flush();
    }

    /// Run until the client has connected and shows the prompt.
    pub fn connect(&mut self) {
        for _ in 0..100 {
            self.run_for(50);
            if self.screen().first().is_some_and(|r| r.starts_with('$')) {
                return;
            }
        }
        let screen = self.screen();
        panic!("no prompt after {} ms: {screen:?}", self.now);
    }
}
