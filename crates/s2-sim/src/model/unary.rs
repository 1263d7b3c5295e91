//! Unary requests: the body read, the faults around applying (503 before,
//! a cut or a lost answer after, a slow ack), and the data-plane calls
//! (`check_tail`, append, read).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use h2::{RecvStream, server::SendResponse};
use http::Request;
use s2_client::runtime::Runtime;
use s2_core::{
    frame::WireMessage,
    types::{AppendInput, ReadBatch},
};

use super::{
    FaultKind, Shared,
    connection::{ConnectionHandle, Control},
    control,
    error::ServiceError,
    json,
    log::{BATCH_MAX_BYTES, BATCH_MAX_RECORDS, Log},
    read::{Cursor, ReadParams, Step},
    respond::{self, Answer},
    route::{Route, Target, query},
    state::AutoCreate,
};

/// Longest a unary read waits at the tail (s2-lite's
/// `MAX_UNARY_READ_WAIT`).
const MAX_UNARY_WAIT: Duration = Duration::from_secs(60);

/// What a request did to the state, as far as faults care: appends may be
/// cut or slowed after they are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    None,
    Appended,
}

/// Serves a unary request.
pub(crate) async fn serve<R: Runtime>(
    shared: Arc<Shared<R>>,
    connection: ConnectionHandle,
    route: Route,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let query = query(&request);
    let request_token = request
        .headers()
        .get(s2_core::api::REQUEST_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let encoded = request
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v != "identity");
    let mut body = request.into_body();
    let body = match respond::read_body(&mut body).await {
        Ok(_) if encoded => Err(ServiceError::bad_header(
            "the model takes no compressed bodies",
        )),
        other => other,
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return send(&shared, Answer::error(&e), respond).await,
    };
    if shared.dice.roll(FaultKind::Unavailable) {
        return send(
            &shared,
            Answer::error(&ServiceError::unavailable()),
            respond,
        )
        .await;
    }
    let (answer, effect) = match &route {
        Route::CheckTail(target) => (check_tail(&shared, target), Effect::None),
        Route::Append(target) => append(&shared, target, &body),
        Route::Read(target) => (
            read_unary(&shared, target, &query, &mut respond).await,
            Effect::None,
        ),
        _ => {
            let now_ms = shared.now_ms();
            let request = control::Request {
                route: &route,
                query: &query,
                request_token,
                body: &body,
                now_ms,
            };
            let answer = control::answer(&mut shared.state(), request)
                .expect("sessions and data-plane calls are routed elsewhere");
            (answer, Effect::None)
        }
    };
    if effect == Effect::Appended && shared.dice.roll(FaultKind::CutAfterApply) {
        connection.send(Control::Cut);
        // Held until the connection is gone, so not even a reset of this
        // stream goes out before the cut.
        let _ = std::future::poll_fn(|cx| respond.poll_reset(cx)).await;
        return;
    }
    if shared.dice.roll(FaultKind::LostResponse) {
        respond.send_reset(h2::Reason::INTERNAL_ERROR);
        return;
    }
    if effect == Effect::Appended && shared.dice.roll(FaultKind::SlowAck) {
        shared.sleep(shared.dice.faults().slow_ack_delay()).await;
    }
    send(&shared, answer, respond).await;
}

/// Sends `answer` once no explicit stall holds answers back.
async fn send<R: Runtime>(shared: &Shared<R>, answer: Answer, respond: SendResponse<Bytes>) {
    shared.silence().await;
    // The client may be gone: nothing to do about it.
    let _ = answer.send(respond).await;
}

fn check_tail<R: Runtime>(shared: &Shared<R>, target: &Target) -> Answer {
    let now_ms = shared.now_ms();
    let mut state = shared.state();
    match state.stream_mut(&target.basin, &target.stream, AutoCreate::OnRead, now_ms) {
        Ok(stream) => Answer::json(
            200,
            &[],
            json::to_string(&json::Tail::from(stream.log.tail())),
        ),
        Err(e) => Answer::error(&e),
    }
}

fn append<R: Runtime>(shared: &Shared<R>, target: &Target, body: &Bytes) -> (Answer, Effect) {
    let result = AppendInput::decode(body.clone())
        .map_err(|e| ServiceError::bad_proto(e.to_string()))
        .and_then(|input| {
            Log::validate(&input)?;
            shared.append(target, &input)
        });
    match result {
        Ok(ack) => (Answer::protobuf(&ack), Effect::Appended),
        Err(e) => (Answer::error(&e), Effect::None),
    }
}

/// A unary read: one batch of at most 1000 records and 1 MiB from the
/// start; at the tail, the first records to come within `wait` (a long
/// poll), else none.
async fn read_unary<R: Runtime>(
    shared: &Arc<Shared<R>>,
    target: &Target,
    query: &[(String, String)],
    respond: &mut SendResponse<Bytes>,
) -> Answer {
    let mut params = match ReadParams::parse(query) {
        Ok(params) => params,
        Err(e) => return Answer::error(&e),
    };
    let max_count = BATCH_MAX_RECORDS as u64;
    params.budget.count = Some(params.budget.count.map_or(max_count, |c| c.min(max_count)));
    params.budget.bytes = Some(
        params
            .budget
            .bytes
            .map_or(BATCH_MAX_BYTES, |b| b.min(BATCH_MAX_BYTES)),
    );
    params.wait = params.wait.map(|w| w.min(MAX_UNARY_WAIT));
    let mut cursor = match Cursor::open(shared, target, params) {
        Ok(cursor) => cursor,
        Err(e) => return Answer::error(&e),
    };
    loop {
        match cursor.next(shared, respond).await {
            Step::Batch(batch) => return Answer::protobuf(&batch),
            // A long poll waits through heartbeats.
            Step::Heartbeat(_) => {}
            Step::End | Step::Gone => return Answer::protobuf(&empty_batch()),
            Step::Failed(e) => return Answer::error(&e),
        }
    }
}

fn empty_batch() -> ReadBatch {
    ReadBatch {
        records: Vec::new(),
        tail: None,
    }
}
