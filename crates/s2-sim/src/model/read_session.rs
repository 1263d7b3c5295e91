//! Read sessions: `ReadBatch` frames out, from the start to the tail, then
//! following it live with heartbeats (an empty batch with the tail) when
//! caught up and after 5-15 s without records; ended when the budget is
//! spent or, for a read that may not wait, at the tail.

use std::sync::Arc;

use bytes::Bytes;
use h2::{RecvStream, server::SendResponse};
use http::Request;
use s2_client::runtime::Runtime;
use s2_core::types::ReadBatch;

use super::{
    Shared,
    read::{Cursor, ReadParams, Step},
    respond::{self, Answer},
    route::{Target, query},
    session::Frames,
};

/// Serves a read session until it ends, fails, a fault ends it or the
/// client goes away.
pub(crate) async fn serve<R: Runtime>(
    shared: Arc<Shared<R>>,
    target: Target,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    // Bad bounds, a missing stream or a start past the tail are answered
    // before the session opens.
    let opened = ReadParams::parse(&query(&request))
        .and_then(|params| Cursor::open(&shared, &target, params));
    let mut cursor = match opened {
        Ok(cursor) => cursor,
        Err(e) => {
            shared.silence().await;
            let _ = Answer::error(&e).send(respond).await;
            return;
        }
    };
    let Ok(stream) = respond::open_session(&mut respond) else {
        return;
    };
    let mut frames = Frames::new(shared.clone(), stream);
    loop {
        let batch = match cursor.next(&shared, frames.stream()).await {
            Step::Batch(batch) => batch,
            Step::Heartbeat(tail) => ReadBatch {
                records: Vec::new(),
                tail: Some(tail),
            },
            Step::End => return frames.finish(),
            Step::Gone => return,
            Step::Failed(error) => return frames.terminal(&error).await,
        };
        if let Some(error) = frames.ending_fault() {
            return frames.terminal(&error).await;
        }
        if frames.message(&batch).await.is_err() {
            return;
        }
    }
}
