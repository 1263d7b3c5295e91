//! The data-plane messages, as protobuf: what [`encode_message`] frames
//! and what session frames and unary bodies carry.
//!
//! [`encode_message`]: super::encode_message

use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;

/// A data-plane message with its protobuf encoding: an
/// [`AppendInput`](crate::types::AppendInput) (client to service), an
/// [`AppendAck`](crate::types::AppendAck) or a
/// [`ReadBatch`](crate::types::ReadBatch) (service to client).
///
/// The client encodes inputs and decodes acks and batches itself; the other
/// directions are here for servers, simulations and tests. The trait is
/// sealed: the encoding is this crate's, so a change of schema or of
/// protobuf library is not a change of its API.
pub trait WireMessage: Sized + Sealed {
    /// Bytes of the message's protobuf encoding.
    fn encoded_len(&self) -> usize;

    /// Appends the message's protobuf encoding to `out`, growing it as
    /// needed.
    fn encode(&self, out: &mut BytesMut);

    /// Decodes a message from its protobuf encoding. `bytes` fields
    /// (record bodies, header names and values) become slices of `bytes`,
    /// not copies. Each message says what else it checks.
    fn decode(bytes: Bytes) -> Result<Self, ProtocolError>;

    /// The message's protobuf encoding in a buffer of its own: a unary
    /// request or response body.
    fn encode_to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out.freeze()
    }
}

/// Keeps [`WireMessage`] to this crate's messages.
pub trait Sealed {}
