//! The protobuf messages mosh 1.4 exchanges (reference §6.1), as `prost` derives so no `protoc`
//! runs at build time.
//!
//! Upstream's proto2 extensions of `Instruction` are plain optional fields on the wire, so the
//! per-direction instruction types carry them as ordinary fields with upstream's numbers.

use prost::Message;

/// `MOSH_PROTOCOL_VERSION`: the only version this implementation speaks (§6.1).
pub const PROTOCOL_VERSION: u32 = 2;

/// Why a received message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes are not a valid protobuf encoding of the expected message.
    #[error("malformed protobuf: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// `TransportBuffers.Instruction`: one SSP transmission (§6.1, §6.2).
#[derive(Clone, PartialEq, Eq, Message)]
pub struct TransportInstruction {
    /// Always [`PROTOCOL_VERSION`]; a missing value reads as 0, a mismatch.
    #[prost(uint32, optional, tag = "1")]
    pub protocol_version: Option<u32>,
    /// The state the diff is relative to.
    #[prost(uint64, optional, tag = "2")]
    pub old_num: Option<u64>,
    /// The state the receiver reaches by applying the diff (`u64::MAX` = shutdown).
    #[prost(uint64, optional, tag = "3")]
    pub new_num: Option<u64>,
    /// The newest peer state the sender has received.
    #[prost(uint64, optional, tag = "4")]
    pub ack_num: Option<u64>,
    /// The oldest own state the sender may still diff against.
    #[prost(uint64, optional, tag = "5")]
    pub throwaway_num: Option<u64>,
    /// The state diff: a serialized [`UserMessage`] or [`HostMessage`].
    #[prost(bytes = "vec", optional, tag = "6")]
    pub diff: Option<Vec<u8>>,
    /// Random padding that blurs message lengths; ignored by receivers.
    #[prost(bytes = "vec", optional, tag = "7")]
    pub chaff: Option<Vec<u8>>,
}

impl TransportInstruction {
    /// An instruction with every field set, as upstream always sends (§13 item 5).
    pub fn new(
        old_num: u64,
        new_num: u64,
        ack_num: u64,
        throwaway_num: u64,
        diff: Vec<u8>,
        chaff: Vec<u8>,
    ) -> Self {
        TransportInstruction {
            protocol_version: Some(PROTOCOL_VERSION),
            old_num: Some(old_num),
            new_num: Some(new_num),
            ack_num: Some(ack_num),
            throwaway_num: Some(throwaway_num),
            diff: Some(diff),
            chaff: Some(chaff),
        }
    }

    /// Decode from protobuf bytes.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        Ok(Self::decode(bytes)?)
    }
}

/// `ClientBuffers.UserMessage`: the diff type of the client's `UserStream` (§6.1, §7.1).
#[derive(Clone, PartialEq, Eq, Message)]
pub struct UserMessage {
    /// The events, in order.
    #[prost(message, repeated, tag = "1")]
    pub instruction: Vec<UserInstruction>,
}

/// `ClientBuffers.Instruction` with its extensions `keystroke = 2` and `resize = 3`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct UserInstruction {
    /// Raw bytes typed by the user.
    #[prost(message, optional, tag = "2")]
    pub keystroke: Option<Keystroke>,
    /// A window size change.
    #[prost(message, optional, tag = "3")]
    pub resize: Option<ResizeMessage>,
    /// MoshKit extension: what this client can do beyond mosh 1.4 (upstream servers skip the
    /// field; a MoshKit server answers it).
    #[prost(message, optional, tag = "19787")]
    pub moshkit_hello: Option<MoshkitHello>,
    /// MoshKit extension: a request for scrollback lines (sent only to a server that
    /// announced scrollback).
    #[prost(message, optional, tag = "19788")]
    pub scrollback_request: Option<ScrollbackRequest>,
}

/// Field number of the MoshKit extensions on `Instruction` (both directions): `0x4D4B`, "MK".
pub const MOSHKIT_EXTENSION_TAG: u32 = 19787;

/// Capability bit of [`MoshkitHello::capabilities`]: the client wants the server's scrollback.
pub const CAPABILITY_SCROLLBACK: u32 = 1;

/// A MoshKit client's announcement of what it can do.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct MoshkitHello {
    /// `CAPABILITY_*` bits.
    #[prost(uint32, optional, tag = "1")]
    pub capabilities: Option<u32>,
}

/// A request for the scrollback lines `[from, to)` (absolute line numbers).
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct ScrollbackRequest {
    /// Identifies the request; the reply carries it.
    #[prost(uint64, optional, tag = "1")]
    pub id: Option<u64>,
    /// First line wanted.
    #[prost(uint64, optional, tag = "2")]
    pub from: Option<u64>,
    /// One past the last line wanted.
    #[prost(uint64, optional, tag = "3")]
    pub to: Option<u64>,
}

/// The server's scrollback as the client should know it, plus new lines and a reply.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct ScrollbackUpdate {
    /// The oldest line the server still keeps (absolute number).
    #[prost(uint64, optional, tag = "1")]
    pub first: Option<u64>,
    /// One past the newest line that scrolled off the server's screen.
    #[prost(uint64, optional, tag = "2")]
    pub end: Option<u64>,
    /// How many times the scrollback was erased (ED 3); lines of an older epoch are gone.
    #[prost(uint64, optional, tag = "3")]
    pub epoch: Option<u64>,
    /// Number of the first line in `pushed`.
    #[prost(uint64, optional, tag = "4")]
    pub pushed_from: Option<u64>,
    /// The newest lines, pushed without a request (only when few lines scrolled).
    #[prost(message, repeated, tag = "5")]
    pub pushed: Vec<ScrollbackWireLine>,
    /// The request this carries the reply to.
    #[prost(uint64, optional, tag = "6")]
    pub reply_id: Option<u64>,
    /// Number of the first line in `reply`.
    #[prost(uint64, optional, tag = "7")]
    pub reply_from: Option<u64>,
    /// The lines of the reply (possibly fewer than asked: ask again for the rest).
    #[prost(message, repeated, tag = "8")]
    pub reply: Vec<ScrollbackWireLine>,
    /// One past the last line the reply answers (lines the server no longer has included).
    #[prost(uint64, optional, tag = "9")]
    pub reply_to: Option<u64>,
}

/// One scrollback line: its text, the byte length of each cell when the text does not say it,
/// the rendition runs, its width and whether it wraps.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct ScrollbackWireLine {
    /// The cells' text, trailing blanks omitted.
    #[prost(string, optional, tag = "1")]
    pub text: Option<String>,
    /// Per cell: byte length << 1 | wide (empty: derived from the text).
    #[prost(uint32, repeated, packed = "true", tag = "2")]
    pub layout: Vec<u32>,
    /// Rendition changes.
    #[prost(message, repeated, tag = "3")]
    pub runs: Vec<ScrollbackWireRun>,
    /// Columns.
    #[prost(uint32, optional, tag = "4")]
    pub cols: Option<u32>,
    /// The line continues on the next.
    #[prost(bool, optional, tag = "5")]
    pub wrapped: Option<bool>,
}

/// A rendition starting at a column.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct ScrollbackWireRun {
    /// First column.
    #[prost(uint32, optional, tag = "1")]
    pub col: Option<u32>,
    /// Foreground (MoshKit's packed colour).
    #[prost(uint32, optional, tag = "2")]
    pub fg: Option<u32>,
    /// Background.
    #[prost(uint32, optional, tag = "3")]
    pub bg: Option<u32>,
    /// Attribute bits.
    #[prost(uint32, optional, tag = "4")]
    pub attrs: Option<u32>,
}

/// `ClientBuffers.Keystroke`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Keystroke {
    /// Raw terminal input bytes.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub keys: Option<Vec<u8>>,
}

/// `ResizeMessage`, the same shape in both directions.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct ResizeMessage {
    /// Columns.
    #[prost(int32, optional, tag = "5")]
    pub width: Option<i32>,
    /// Rows.
    #[prost(int32, optional, tag = "6")]
    pub height: Option<i32>,
}

/// `HostBuffers.HostMessage`: the diff type of the server's terminal state (§6.1, §7.2).
#[derive(Clone, PartialEq, Eq, Message)]
pub struct HostMessage {
    /// The parts of the diff, in order (upstream: echo ack, resize, host bytes).
    #[prost(message, repeated, tag = "1")]
    pub instruction: Vec<HostInstruction>,
}

/// `HostBuffers.Instruction` with its extensions `hostbytes = 2`, `resize = 3`, `echoack = 7`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct HostInstruction {
    /// Escape-sequence bytes that turn the client's frame into the new one.
    #[prost(message, optional, tag = "2")]
    pub hostbytes: Option<HostBytes>,
    /// The new terminal size.
    #[prost(message, optional, tag = "3")]
    pub resize: Option<ResizeMessage>,
    /// The newest client state whose keystrokes have had time to echo.
    #[prost(message, optional, tag = "7")]
    pub echoack: Option<EchoAck>,
    /// MoshKit extension: scrollback (only to a client that asked for it).
    #[prost(message, optional, tag = "19787")]
    pub scrollback: Option<ScrollbackUpdate>,
}

/// `HostBuffers.HostBytes`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct HostBytes {
    /// Terminal output for the client's emulator.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub hoststring: Option<Vec<u8>>,
}

/// `HostBuffers.EchoAck`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct EchoAck {
    /// The acknowledged client state number.
    #[prost(uint64, optional, tag = "8")]
    pub echo_ack_num: Option<u64>,
}

impl UserInstruction {
    /// A keystroke instruction.
    pub fn keys(bytes: Vec<u8>) -> Self {
        UserInstruction {
            keystroke: Some(Keystroke { keys: Some(bytes) }),
            ..Default::default()
        }
    }

    /// A resize instruction.
    pub fn resize(width: i32, height: i32) -> Self {
        UserInstruction {
            resize: Some(ResizeMessage {
                width: Some(width),
                height: Some(height),
            }),
            ..Default::default()
        }
    }
}

impl HostInstruction {
    /// A host-bytes instruction.
    pub fn bytes(bytes: Vec<u8>) -> Self {
        HostInstruction {
            hostbytes: Some(HostBytes {
                hoststring: Some(bytes),
            }),
            ..Default::default()
        }
    }

    /// A resize instruction.
    pub fn resize(width: i32, height: i32) -> Self {
        HostInstruction {
            resize: Some(ResizeMessage {
                width: Some(width),
                height: Some(height),
            }),
            ..Default::default()
        }
    }

    /// An echo-ack instruction.
    pub fn echo_ack(num: u64) -> Self {
        HostInstruction {
            echoack: Some(EchoAck {
                echo_ack_num: Some(num),
            }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hexs(m: &impl Message) -> String {
        hex::encode(m.encode_to_vec())
    }

    #[test]
    fn first_client_instruction_matches_reference() {
        let diff = UserMessage {
            instruction: vec![UserInstruction::resize(80, 24)],
        }
        .encode_to_vec();
        let inst = TransportInstruction::new(0, 1, 0, 0, diff, vec![]);
        assert_eq!(hexs(&inst), "0802100018012000280032080a061a04285030183a00");
        assert_eq!(
            TransportInstruction::decode_bytes(&inst.encode_to_vec()).unwrap(),
            inst
        );
    }

    #[test]
    fn user_message_matches_reference() {
        let m = UserMessage {
            instruction: vec![
                UserInstruction::keys(b"ls\r".to_vec()),
                UserInstruction::resize(100, 40),
            ],
        };
        assert_eq!(hexs(&m), "0a07120522036c730d0a061a0428643028");
    }

    #[test]
    fn host_message_matches_reference() {
        let m = HostMessage {
            instruction: vec![
                HostInstruction::echo_ack(1),
                HostInstruction::bytes(b"\x1b[?25l\n# \x1b[?25h".to_vec()),
            ],
        };
        assert_eq!(
            hexs(&m),
            "0a043a0240010a131211220f1b5b3f32356c0a23201b5b3f323568"
        );
        assert_eq!(HostMessage::decode(&*m.encode_to_vec()).unwrap(), m);
    }

    #[test]
    fn missing_version_reads_as_none_and_unknown_fields_are_skipped() {
        // new_num = 1, then an unknown field 15 (varint), then ack_num = 3.
        let bytes = [0x18, 0x01, 0x78, 0x05, 0x20, 0x03];
        let inst = TransportInstruction::decode_bytes(&bytes).unwrap();
        assert_eq!(inst.protocol_version, None);
        assert_eq!(inst.new_num, Some(1));
        assert_eq!(inst.ack_num, Some(3));
    }

    #[test]
    fn malformed_bytes_are_a_typed_error() {
        assert!(matches!(
            TransportInstruction::decode_bytes(&[0x32, 0x10, 0x00]),
            Err(WireError::Decode(_))
        ));
    }
}
