//! The saved form of a [`super::ClientSession`]: an opaque, versioned, integrity-checked byte
//! blob an app keeps while the OS may kill it, and rebuilds the session from (see
//! `docs/ssp.md`, "Saving and restoring a client session", for the format and the argument that
//! no nonce is ever reused).
//!
//! Layout: `"MKCS"`, format version (u16 little-endian), payload length (u32 LE), payload (a
//! protobuf [`SavedSession`]), CRC-32 of everything before it (u32 LE). The blob holds the
//! session key: apps keep it in the Keychain / Android Keystore-encrypted storage, never in
//! plain files or logs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use std::collections::VecDeque;
use std::time::Instant;

use super::HostState;
use super::client::{
    ClientConfig, ClientEvent, ClientSession, ConnectionState, RESTORE_SEQ_FLOOR_MAX,
};
use crate::connection::{Config, Connection, SnapshotError};
use crate::crypto::Key;
use crate::overlay::Notifications;
use crate::prediction::{DisplayPreference, PredictionEngine};
use crate::scrollback::ClientScrollback;
use crate::state::UserStream;
use crate::terminal::{Rendition, TerminalError};
use crate::transport::RandomSource;

/// The first bytes of every saved session.
pub const SAVED_SESSION_MAGIC: &[u8; 4] = b"MKCS";
/// The format version written by this library (older versions are read, newer refused).
pub const SAVED_SESSION_VERSION: u16 = 1;
/// Largest blob accepted (a 65535 × 65535 screen cannot be saved anyway: terminal limits apply).
pub(crate) const SAVED_SESSION_MAX_LEN: usize = 64 << 20;

const HEADER_LEN: usize = 4 + 2 + 4;
const TRAILER_LEN: usize = 4;

/// Why a saved session could not be restored. Nothing is half-restored: either the whole
/// session comes back or this error does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// Shorter than its header, or than the length its header announces.
    #[error("saved session is truncated")]
    Truncated,
    /// Not a MoshKit saved session (wrong magic bytes).
    #[error("not a MoshKit saved session")]
    Foreign,
    /// Written by a newer MoshKit.
    #[error("saved session format {found} is newer than this library's {supported}")]
    NewerVersion {
        /// The blob's version.
        found: u16,
        /// The newest version this library reads.
        supported: u16,
    },
    /// The integrity check failed (storage corruption).
    #[error("saved session is corrupt (checksum mismatch)")]
    Corrupt,
    /// Well-formed bytes whose content is invalid.
    #[error("saved session is malformed: {0}")]
    Malformed(String),
    /// The saved protocol state could not be rebuilt.
    #[error("saved session state: {0}")]
    Snapshot(#[from] SnapshotError),
    /// The saved screen size is impossible.
    #[error("saved session size: {0}")]
    Terminal(#[from] TerminalError),
}

/// The payload of a saved session (protobuf, field numbers are the format: never reuse one).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SavedSession {
    /// The 16-byte session key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// The server's IP address (4 or 16 bytes) and UDP port.
    #[prost(bytes = "vec", tag = "2")]
    pub server_ip: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub server_port: u32,
    /// `Connection::snapshot` encoded against the session's states 0.
    #[prost(bytes = "vec", tag = "4")]
    pub snapshot: Vec<u8>,
    /// The size the remote replica started with (state 0 of the host state).
    #[prost(uint32, tag = "5")]
    pub initial_cols: u32,
    #[prost(uint32, tag = "6")]
    pub initial_rows: u32,
    /// The window size the app last set.
    #[prost(uint32, tag = "7")]
    pub cols: u32,
    #[prost(uint32, tag = "8")]
    pub rows: u32,
    /// Prediction settings: preference (0 adaptive, 1 always, 2 never, 3 experimental).
    #[prost(uint32, tag = "9")]
    pub prediction: u32,
    #[prost(bool, tag = "10")]
    pub predict_overwrite: bool,
    #[prost(bool, tag = "11")]
    pub prediction_extensions: bool,
    #[prost(bool, tag = "12")]
    pub draw_notification_bar: bool,
    #[prost(string, optional, tag = "13")]
    pub escape_key_name: Option<String>,
    #[prost(string, optional, tag = "14")]
    pub title_prefix: Option<String>,
    /// What prediction learned: the prompts after which typing echoed, one glyph list each.
    #[prost(message, repeated, tag = "15")]
    pub learned_prompts: Vec<SavedPrompt>,
    /// Up/Down were seen to move the cursor one row.
    #[prost(bool, tag = "16")]
    pub vertical_learned: bool,
    /// The newest remote state the client had shown (state number), for diagnostics.
    #[prost(uint64, tag = "17")]
    pub remote_num: u64,
    /// The scrollback: a zlib-compressed `SavedScrollback` (absent in blobs written before it
    /// existed: then none, at the default limit).
    #[prost(bytes = "vec", optional, tag = "18")]
    pub scrollback_z: Option<Vec<u8>>,
}

/// One learned prompt: each glyph as (kind, value): 0 blank, 1 char (value = scalar), 2 other
/// (value = hash).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SavedPrompt {
    #[prost(uint32, repeated, tag = "1")]
    pub kinds: Vec<u32>,
    #[prost(uint64, repeated, tag = "2")]
    pub values: Vec<u64>,
}

pub(crate) fn encode_ip(addr: SocketAddr) -> (Vec<u8>, u32) {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    (ip, u32::from(addr.port()))
}

pub(crate) fn decode_ip(ip: &[u8], port: u32) -> Result<SocketAddr, RestoreError> {
    let port = u16::try_from(port).map_err(|_| RestoreError::Malformed("port".into()))?;
    let ip = match ip.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(ip).unwrap_or_default())),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).unwrap_or_default())),
        n => return Err(RestoreError::Malformed(format!("{n}-byte server address"))),
    };
    Ok(SocketAddr::new(ip, port))
}

/// The scrollback part of a blob, zlib-compressed (fast level: text compresses about 5×).
fn compress_scrollback(s: &crate::scrollback::client::SavedScrollback) -> Vec<u8> {
    use prost::Message as _;
    use std::io::Write as _;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(&s.encode_to_vec());
    enc.finish().unwrap_or_default()
}

fn decompress_scrollback(
    bytes: &[u8],
) -> Result<crate::scrollback::client::SavedScrollback, RestoreError> {
    use prost::Message as _;
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(bytes)
        .take(SAVED_SESSION_MAX_LEN as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| RestoreError::Malformed(format!("scrollback: {e}")))?;
    if out.len() > SAVED_SESSION_MAX_LEN {
        return Err(RestoreError::Malformed("scrollback too large".into()));
    }
    crate::scrollback::client::SavedScrollback::decode(&*out)
        .map_err(|e| RestoreError::Malformed(format!("scrollback: {e}")))
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Frames `payload` as a saved session.
pub(crate) fn frame(payload: &SavedSession) -> Vec<u8> {
    use prost::Message as _;
    let body = payload.encode_to_vec();
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + TRAILER_LEN);
    out.extend_from_slice(SAVED_SESSION_MAGIC);
    out.extend_from_slice(&SAVED_SESSION_VERSION.to_le_bytes());
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Frames arbitrary payload bytes with a valid header and checksum, so that a fuzzer reaches the
/// payload decoder and the state rebuild behind the integrity check (feature `internals`).
#[cfg(feature = "internals")]
pub fn frame_raw_payload(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + TRAILER_LEN);
    out.extend_from_slice(SAVED_SESSION_MAGIC);
    out.extend_from_slice(&SAVED_SESSION_VERSION.to_le_bytes());
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the frame and decodes the payload.
pub(crate) fn unframe(blob: &[u8]) -> Result<SavedSession, RestoreError> {
    use prost::Message as _;
    if blob.len() < 4 {
        return Err(RestoreError::Truncated);
    }
    if &blob[..4] != SAVED_SESSION_MAGIC {
        return Err(RestoreError::Foreign);
    }
    if blob.len() < HEADER_LEN + TRAILER_LEN {
        return Err(RestoreError::Truncated);
    }
    let version = u16::from_le_bytes([blob[4], blob[5]]);
    if version > SAVED_SESSION_VERSION {
        return Err(RestoreError::NewerVersion {
            found: version,
            supported: SAVED_SESSION_VERSION,
        });
    }
    if version == 0 {
        return Err(RestoreError::Malformed("format version 0".into()));
    }
    let len = u32::from_le_bytes([blob[6], blob[7], blob[8], blob[9]]) as usize;
    if len > SAVED_SESSION_MAX_LEN {
        return Err(RestoreError::Malformed(format!("payload of {len} bytes")));
    }
    let end = HEADER_LEN + len;
    if blob.len() < end + TRAILER_LEN {
        return Err(RestoreError::Truncated);
    }
    if blob.len() > end + TRAILER_LEN {
        return Err(RestoreError::Malformed("trailing bytes".into()));
    }
    let stored = u32::from_le_bytes([blob[end], blob[end + 1], blob[end + 2], blob[end + 3]]);
    if crc32(&blob[..end]) != stored {
        return Err(RestoreError::Corrupt);
    }
    SavedSession::decode(&blob[HEADER_LEN..end]).map_err(|e| RestoreError::Malformed(e.to_string()))
}

impl ClientSession {
    /// The whole resumable state of this session as an opaque, versioned, integrity-checked
    /// blob (see [`ClientSession::restore`]). It holds the session key: keep it in the
    /// Keychain / Keystore-encrypted storage, never in plain files or logs. Cheap enough to
    /// call after every screen change; call it at least when the app goes to the background.
    pub fn save_state(&self) -> Vec<u8> {
        use crate::prediction::Glyph;
        let snapshot = self.conn.snapshot();
        let (ic, ir) = self.initial_size;
        let remote0 = HostState::new(usize::from(ic), usize::from(ir));
        let snapshot = match remote0 {
            Ok(remote0) => snapshot.encode(&UserStream::new(), &remote0),
            // The session was created with this size, so it is valid.
            Err(_) => Vec::new(),
        };
        let server = self
            .conn
            .remote_address()
            .unwrap_or_else(|| std::net::SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0)));
        let (server_ip, server_port) = encode_ip(server);
        let (prompts, vertical) = self.prediction.learned();
        let learned_prompts = prompts
            .iter()
            .map(|p| {
                let mut sp = SavedPrompt::default();
                for g in p {
                    let (k, v) = match *g {
                        Glyph::Blank => (0, 0),
                        Glyph::Char(c) => (1, u64::from(u32::from(c))),
                        Glyph::Other(h) => (2, h),
                    };
                    sp.kinds.push(k);
                    sp.values.push(v);
                }
                sp
            })
            .collect();
        frame(&SavedSession {
            key: self.key.as_bytes().to_vec(),
            server_ip,
            server_port,
            snapshot,
            initial_cols: u32::from(ic),
            initial_rows: u32::from(ir),
            cols: u32::from(self.size.0),
            rows: u32::from(self.size.1),
            prediction: match self.config.prediction {
                DisplayPreference::Adaptive => 0,
                DisplayPreference::Always => 1,
                DisplayPreference::Never => 2,
                DisplayPreference::Experimental => 3,
            },
            predict_overwrite: self.config.predict_overwrite,
            prediction_extensions: self.config.prediction_extensions,
            draw_notification_bar: self.config.draw_notification_bar,
            escape_key_name: self.config.escape_key_name.clone(),
            title_prefix: self.config.title_prefix.clone(),
            learned_prompts,
            vertical_learned: vertical,
            remote_num: self.remote_num,
            scrollback_z: Some(compress_scrollback(&self.scrollback.to_saved())),
        })
    }

    /// Rebuilds a session from [`ClientSession::save_state`]'s blob in a new process: same key,
    /// server, state history, screen, window size, prediction settings and what prediction
    /// learned. The screen shows the saved server screen at once ([`ClientEvent::ScreenChanged`]
    /// is queued) and the first poll sends: the server follows the new address within one
    /// round trip.
    ///
    /// `wall_clock_micros` is the current wall-clock time (microseconds since the Unix epoch):
    /// packet sequence numbers continue at `wall_clock_micros × 1024`, above every number any
    /// earlier process of the session can have used (none sends 1024 datagrams a microsecond),
    /// so restoring the same blob twice, or an older blob after a newer one, never reuses a
    /// nonce while the wall clock moves forward between restores. If the clock is behind the
    /// saved numbers, they continue [`crate::connection::RESUME_SEQ_GAP`] above the saved next
    /// number. The argument is in `docs/ssp.md`.
    pub fn restore(
        blob: &[u8],
        now: Instant,
        wall_clock_micros: u64,
        rng: Box<dyn RandomSource>,
    ) -> Result<Self, RestoreError> {
        use crate::prediction::Glyph;
        let saved = unframe(blob)?;
        let key_bytes: [u8; crate::crypto::KEY_LEN] = saved
            .key
            .as_slice()
            .try_into()
            .map_err(|_| RestoreError::Malformed(format!("{}-byte key", saved.key.len())))?;
        let key = Key::from_bytes(key_bytes);
        let server = decode_ip(&saved.server_ip, saved.server_port)?;
        let dim = |v: u32, what: &str| {
            u16::try_from(v)
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| RestoreError::Malformed(format!("{what} {v}")))
        };
        let (ic, ir) = (
            dim(saved.initial_cols, "initial columns")?,
            dim(saved.initial_rows, "initial rows")?,
        );
        let (cols, rows) = (dim(saved.cols, "columns")?, dim(saved.rows, "rows")?);
        let prediction = match saved.prediction {
            0 => DisplayPreference::Adaptive,
            1 => DisplayPreference::Always,
            2 => DisplayPreference::Never,
            3 => DisplayPreference::Experimental,
            p => return Err(RestoreError::Malformed(format!("prediction mode {p}"))),
        };
        let mut prompts = Vec::new();
        for p in &saved.learned_prompts {
            if p.kinds.len() != p.values.len() {
                return Err(RestoreError::Malformed("learned prompt".into()));
            }
            let mut glyphs = Vec::with_capacity(p.kinds.len());
            for (&k, &v) in p.kinds.iter().zip(&p.values) {
                glyphs.push(match k {
                    0 => Glyph::Blank,
                    1 => Glyph::Char(
                        u32::try_from(v)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| RestoreError::Malformed("prompt glyph".into()))?,
                    ),
                    2 => Glyph::Other(v),
                    _ => return Err(RestoreError::Malformed("prompt glyph kind".into())),
                });
            }
            prompts.push(glyphs);
        }
        let saved_scrollback = saved
            .scrollback_z
            .as_deref()
            .map(decompress_scrollback)
            .transpose()?;
        let remote0 = HostState::new(usize::from(ic), usize::from(ir))?;
        let snapshot =
            crate::connection::Snapshot::decode(&saved.snapshot, &UserStream::new(), &remote0)?;
        let remote_num = snapshot.remote.0;
        let config = ClientConfig {
            prediction,
            predict_overwrite: saved.predict_overwrite,
            prediction_extensions: saved.prediction_extensions,
            draw_notification_bar: saved.draw_notification_bar,
            escape_key_name: saved.escape_key_name,
            title_prefix: saved.title_prefix,
            scrollback_lines: saved_scrollback
                .as_ref()
                .map_or(crate::scrollback::DEFAULT_SCROLLBACK_LINES, |s| {
                    usize::try_from(s.limit).unwrap_or(usize::MAX)
                }),
            scrollback_prefetch: saved_scrollback
                .as_ref()
                .map_or(super::client::DEFAULT_SCROLLBACK_PREFETCH, |s| {
                    usize::try_from(s.prefetch).unwrap_or(0)
                }),
            transport: Config::client(),
        };
        let scrollback = match &saved_scrollback {
            Some(s) => ClientScrollback::from_saved(s)
                .map_err(|e| RestoreError::Malformed(format!("scrollback: {e}")))?,
            None => ClientScrollback::new(
                config.scrollback_lines,
                config.scrollback_prefetch,
                crate::scrollback::client::FIRST_REQUEST_ID,
            ),
        };
        let floor = wall_clock_micros
            .saturating_mul(1024)
            .min(RESTORE_SEQ_FLOOR_MAX);
        let conn = Connection::restore_above(
            config.transport.clone(),
            &key,
            server,
            snapshot,
            floor,
            now,
            rng,
        )?;
        let mut engine = PredictionEngine::new(
            config.prediction,
            config.predict_overwrite,
            Rendition::default(),
        );
        engine.set_extensions(config.prediction_extensions);
        engine.set_learned(prompts, saved.vertical_learned);
        let notifications = Notifications::new(now, config.escape_key_name.as_deref());
        let fb = conn.remote_state().1.framebuffer();
        let (bell_count, title, clipboard) = (
            fb.bell_count(),
            fb.title().to_owned(),
            fb.clipboard().to_owned(),
        );
        let mut session = ClientSession {
            conn,
            key,
            initial_size: (ic, ir),
            size: (cols, rows),
            redraw_size: None,
            paused: false,
            full_redraws_requested: 0,
            prediction: engine,
            notifications,
            events: VecDeque::new(),
            last_pulled: None,
            remote_num,
            connected: false,
            reported_state: ConnectionState::Connecting,
            bell_count,
            title: title.clone(),
            clipboard,
            bytes_sent: 0,
            bytes_received: 0,
            start: now,
            closed: None,
            config,
            scrollback,
        };
        session.events.push_back(ClientEvent::ScreenChanged);
        if !title.is_empty() {
            session.events.push_back(ClientEvent::Title(title));
        }
        Ok(session)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frame_checks() {
        let p = SavedSession {
            key: vec![7; 16],
            server_port: 60001,
            ..Default::default()
        };
        let blob = frame(&p);
        assert_eq!(unframe(&blob).unwrap(), p);
        assert_eq!(unframe(&blob[..3]), Err(RestoreError::Truncated));
        assert_eq!(
            unframe(&blob[..blob.len() - 1]),
            Err(RestoreError::Truncated)
        );
        let mut foreign = blob.clone();
        foreign[0] = b'X';
        assert_eq!(unframe(&foreign), Err(RestoreError::Foreign));
        let mut newer = blob.clone();
        newer[4] = 2;
        assert!(matches!(
            unframe(&newer),
            Err(RestoreError::NewerVersion { found: 2, .. } | RestoreError::Corrupt)
        ));
        // A newer version is refused before the checksum is looked at.
        assert_eq!(
            unframe(&newer),
            Err(RestoreError::NewerVersion {
                found: 2,
                supported: 1
            })
        );
        for i in HEADER_LEN..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x10;
            assert_eq!(unframe(&bad), Err(RestoreError::Corrupt), "byte {i}");
        }
        let mut long = blob.clone();
        long.push(0);
        assert!(matches!(unframe(&long), Err(RestoreError::Malformed(_))));
        assert_eq!(
            decode_ip(&[127, 0, 0, 1], 60001).unwrap(),
            "127.0.0.1:60001".parse().unwrap()
        );
        assert!(decode_ip(&[1, 2, 3], 1).is_err());
        assert!(decode_ip(&[1, 2, 3, 4], 70000).is_err());
    }
}
