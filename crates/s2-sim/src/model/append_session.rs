//! Append sessions: `AppendInput` frames in, one `AppendAck` frame out per
//! input, in order; a failed condition (or a bad input) ends the session
//! with a terminal frame carrying the error, as s2-lite does.

use std::sync::Arc;

use bytes::Bytes;
use h2::{RecvStream, server::SendResponse};
use http::Request;
use s2_client::runtime::Runtime;

use super::{
    FaultKind, Shared,
    connection::{ConnectionHandle, Control},
    log::Log,
    respond::{self, Answer, InputReader},
    route::Target,
    session::Frames,
};

/// Serves an append session until the client ends its inputs, an input
/// fails, a fault ends it or the client goes away.
pub(crate) async fn serve<R: Runtime>(
    shared: Arc<Shared<R>>,
    connection: ConnectionHandle,
    target: Target,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    // s2-lite opens the stream before it answers: a missing one is an
    // error response, not a frame.
    if let Err(e) = shared.open_for_append(&target) {
        shared.silence().await;
        let _ = Answer::error(&e).send(respond).await;
        return;
    }
    let Ok(stream) = respond::open_session(&mut respond) else {
        return;
    };
    let mut frames = Frames::new(shared.clone(), stream);
    let mut inputs = InputReader::new(request.into_body());
    while let Some(input) = inputs.next().await {
        if let Some(error) = frames.ending_fault() {
            return frames.terminal(&error).await;
        }
        let applied = input.and_then(|input| {
            Log::validate(&input)?;
            shared.append(&target, &input)
        });
        let ack = match applied {
            Ok(ack) => ack,
            Err(error) => return frames.terminal(&error).await,
        };
        if shared.dice.roll(FaultKind::CutAfterApply) {
            connection.send(Control::Cut);
            // Nothing of this session may go out before the cut.
            return frames.gone().await;
        }
        if shared.dice.roll(FaultKind::SlowAck) {
            shared.sleep(shared.dice.faults().slow_ack_delay()).await;
        }
        if frames.message(&ack).await.is_err() {
            return;
        }
    }
    frames.finish();
}
