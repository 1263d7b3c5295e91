//! What the hostile server answers: the misbehaviour on the routes it
//! concerns, sensible answers everywhere else.

use std::{future::poll_fn, io, sync::Arc, sync::atomic::Ordering, time::Duration};

use bytes::Bytes;
use h2::{RecvStream, SendStream, server::SendResponse};
use http::Request;
use s2_core::{
    frame::{self, Compression, WireMessage},
    types::{AppendAck, AppendInput, ReadBatch, SequencedRecord, StreamPosition},
};

use super::{
    AckFault, ConnectionHandle, Cut, ErrorBody, Misbehaviour, Route, Shared,
    respond::{self, InputReader},
    route::query_u64,
};

/// Pause between the batches of a read session.
const READ_INTERVAL: Duration = Duration::from_millis(50);
/// Records per batch of a read session.
const PER_BATCH: u64 = 2;
/// Time for queued frames to reach the socket before a cut.
const FLUSH_GRACE: Duration = Duration::from_millis(150);
/// Largest request body read back (an append is at most ~1 MiB).
const MAX_REQUEST_BODY: usize = 4 * 1024 * 1024;

/// Answers one request. Errors mean the client went away, which needs no
/// answer.
pub(super) async fn handle(
    shared: Arc<Shared>,
    connection: ConnectionHandle,
    route: Route,
    request: Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    let _ = play(&shared, &connection, route, request, respond).await;
}

async fn play(
    shared: &Shared,
    connection: &ConnectionHandle,
    route: Route,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) -> io::Result<()> {
    use Misbehaviour as M;
    let session = matches!(route, Route::ReadSession | Route::AppendSession);
    match shared.misbehaviour {
        M::Unresponsive => {
            // Keep the request open (its stream counts as active) and never
            // answer; the connection task keeps answering PINGs.
            let _request = request;
            poll_fn(|cx| respond.poll_reset(cx)).await.ok();
            Ok(())
        }
        M::GarbageBody if session => {
            let mut stream = respond::open_session(&mut respond)?;
            respond::send_all(&mut stream, garbage(), false).await?;
            park(&mut stream).await
        }
        M::GarbageBody => {
            let head = respond::head(200, &[("content-type", content_type(route))]);
            respond::reply(respond, head, garbage()).await
        }
        M::OversizeBody { bytes } if !session => {
            let head = respond::head(200, &[("content-type", content_type(route))]);
            let mut stream = respond
                .send_response(head, false)
                .map_err(io::Error::other)?;
            respond::send_repeated(&mut stream, b"hostile body ", bytes).await
        }
        M::EmptyRecords { bytes } if route == Route::Read => {
            let head = respond::head(200, &[("content-type", content_type(route))]);
            let mut stream = respond
                .send_response(head, false)
                .map_err(io::Error::other)?;
            respond::send_repeated(&mut stream, &[0x0a, 0x00], bytes).await
        }
        M::EmptyRecords { bytes } if route == Route::ReadSession => {
            // One frame as large as the protocol allows, all empty records.
            let len = (bytes as usize).min(frame::MAX_PAYLOAD_LEN) & !1;
            let payload = [0x0a, 0x00].repeat(len / 2);
            let mut stream = respond::open_session(&mut respond)?;
            let frame = respond::compressed_frame(Compression::None, &payload);
            respond::send_all(&mut stream, frame, false).await?;
            park(&mut stream).await
        }
        M::CompressionBomb { coding, .. } if route == Route::Read => {
            let bomb = shared.bomb.clone().expect("a bomb is built at start");
            let encoding = coding
                .accept_encoding_value()
                .expect("bombs are compressed");
            let head = respond::head(
                200,
                &[
                    ("content-type", content_type(route)),
                    ("content-encoding", encoding),
                ],
            );
            respond::reply(respond, head, bomb).await
        }
        M::CompressionBomb { coding, .. } if route == Route::ReadSession => {
            let bomb = shared.bomb.as_ref().expect("a bomb is built at start");
            let mut stream = respond::open_session(&mut respond)?;
            let frame = respond::compressed_frame(coding, bomb);
            respond::send_all(&mut stream, frame, false).await?;
            park(&mut stream).await
        }
        M::BadAck(fault) if route == Route::AppendSession => {
            bad_acks(shared, fault, request, respond).await
        }
        M::MisplacedUnaryAck if route == Route::Append => {
            let input = read_input(request).await?;
            let at = input.match_seq_num().unwrap_or(0) + 7;
            let ack = ack(at, at + input.len() as u64);
            respond::reply_protobuf(respond, &ack).await
        }
        M::SeqNumMax if route == Route::Read => {
            let batch = batch([u64::MAX]);
            respond::reply_protobuf(respond, &batch).await
        }
        M::SeqNumMax if route == Route::ReadSession => {
            let start = query_u64(&request, "seq_num").unwrap_or(0);
            let mut stream = respond::open_session(&mut respond)?;
            let frame = respond::message_frame(&batch([start, u64::MAX]), false);
            respond::send_all(&mut stream, frame, false).await?;
            park(&mut stream).await
        }
        M::RecordsBackwards if route == Route::Read => {
            let start = query_u64(&request, "seq_num").unwrap_or(0);
            let batch = batch([start + 5, start + 6, start + 3]);
            respond::reply_protobuf(respond, &batch).await
        }
        M::RecordsBackwards if route == Route::ReadSession => {
            let start = query_u64(&request, "seq_num").unwrap_or(0);
            let mut stream = respond::open_session(&mut respond)?;
            for seq_nums in [vec![start, start + 1, start + 2], vec![start + 1]] {
                let frame = respond::message_frame(&batch(seq_nums), false);
                respond::send_all(&mut stream, frame, false).await?;
            }
            park(&mut stream).await
        }
        M::EndlessPage if route == Route::ListBasins => {
            let page = r#"{"basins":[{"name":"hostile-basin-0001"},{"name":"hostile-basin-0002"}],"has_more":true}"#;
            respond::reply_json(respond, 200, page.to_owned()).await
        }
        M::SessionCut(cut) if route == Route::ReadSession => {
            let mut stream = respond::open_session(&mut respond)?;
            serve_reads(&mut stream, &request, Some(1), false).await?;
            cut_session(connection, cut, &mut stream).await
        }
        M::SessionCut(cut) if route == Route::AppendSession => {
            let mut stream = respond::open_session(&mut respond)?;
            let mut inputs = InputReader::new(request.into_body());
            if serve_appends(shared, &mut stream, &mut inputs, Some(1), false).await? {
                cut_session(connection, cut, &mut stream).await?;
            }
            Ok(())
        }
        M::ReconnectAdvice if route == Route::ReadSession => {
            let mut stream = respond::open_session(&mut respond)?;
            serve_reads(&mut stream, &request, None, true).await
        }
        M::ReconnectAdvice if route == Route::AppendSession => {
            let mut stream = respond::open_session(&mut respond)?;
            let mut inputs = InputReader::new(request.into_body());
            serve_appends(shared, &mut stream, &mut inputs, None, true).await?;
            Ok(())
        }
        M::RefuseToken { token }
            if request
                .headers()
                .get("authorization")
                .is_some_and(|v| v.as_bytes() == format!("Bearer {token}").as_bytes()) =>
        {
            let head = respond::head(401, &[("content-type", "application/json")]);
            let body = r#"{"code":"authn","message":"token expired"}"#;
            respond::reply(respond, head, Bytes::from_static(body.as_bytes())).await
        }
        M::DeleteAnswerLost if route == Route::Delete => {
            if shared.by_route[route.index()].load(Ordering::SeqCst) == 1 {
                respond.send_reset(h2::Reason::INTERNAL_ERROR);
                return Ok(());
            }
            let code = if request.uri().path().starts_with("/v1/streams/") {
                "stream_not_found"
            } else {
                "basin_not_found"
            };
            let head = respond::head(404, &[("content-type", "application/json")]);
            let body = format!(r#"{{"code":"{code}","message":"not found"}}"#);
            respond::reply(respond, head, Bytes::from(body)).await
        }
        M::RetryAfter { millis } => {
            let head = respond::head(
                503,
                &[
                    ("content-type", "application/json"),
                    (s2_core::api::RETRY_AFTER_MS_HEADER, &millis.to_string()),
                ],
            );
            let body = r#"{"code":"unavailable","message":"come back later"}"#;
            respond::reply(respond, head, Bytes::from_static(body.as_bytes())).await
        }
        M::HostileErrorBody(_) if session => {
            // Terminal frames are at most 2 MiB; escaped, this stays under.
            let body = hostile_error_json(512 * 1024);
            let mut stream = respond::open_session(&mut respond)?;
            let frame = respond::terminal_frame(400, body.as_bytes());
            respond::send_all(&mut stream, frame, true).await
        }
        M::HostileErrorBody(shape) => {
            let (content_type, body) = match shape {
                ErrorBody::Json => ("application/json", hostile_error_json(1024 * 1024)),
                ErrorBody::Raw => ("text/plain", respond::hostile_text(1024 * 1024)),
            };
            let head = respond::head(400, &[("content-type", content_type)]);
            respond::reply(respond, head, Bytes::from(body)).await
        }
        _ => sensible(shared, route, request, respond).await,
    }
}

/// Answers as a well-behaved server would (tails, empty pages, acks in
/// order, records in order).
async fn sensible(
    shared: &Shared,
    route: Route,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) -> io::Result<()> {
    match route {
        Route::ListBasins => {
            respond::reply_json(respond, 200, r#"{"basins":[],"has_more":false}"#.into()).await
        }
        Route::CheckTail => {
            let tail = shared.tail.load(Ordering::SeqCst);
            let json = format!(r#"{{"tail":{{"seq_num":{tail},"timestamp":{tail}}}}}"#);
            respond::reply_json(respond, 200, json).await
        }
        Route::Append => {
            let input = read_input(request).await?;
            respond::reply_protobuf(respond, &apply(shared, &input)).await
        }
        Route::Read => {
            let start = query_u64(&request, "seq_num").unwrap_or(0);
            let count = query_u64(&request, "count").unwrap_or(10).min(10);
            respond::reply_protobuf(respond, &batch(start..start + count)).await
        }
        Route::AppendSession => {
            let mut stream = respond::open_session(&mut respond)?;
            let mut inputs = InputReader::new(request.into_body());
            serve_appends(shared, &mut stream, &mut inputs, None, false).await?;
            Ok(())
        }
        Route::ReadSession => {
            let mut stream = respond::open_session(&mut respond)?;
            serve_reads(&mut stream, &request, None, false).await
        }
        Route::Delete => respond::reply(respond, respond::head(202, &[]), Bytes::new()).await,
        Route::Other => {
            let json = r#"{"code":"not_implemented","message":"not served here"}"#;
            respond::reply_json(respond, 501, json.into()).await
        }
    }
}

/// Acks that contradict the inputs, then silence.
async fn bad_acks(
    shared: &Shared,
    fault: AckFault,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) -> io::Result<()> {
    let mut stream = respond::open_session(&mut respond)?;
    let mut inputs = InputReader::new(request.into_body());
    let Some(first) = inputs.next().await else {
        return Ok(());
    };
    let n = first.len() as u64;
    let start = shared.tail.fetch_add(n, Ordering::SeqCst);
    let acks = match fault {
        AckFault::WrongCount => vec![ack(start, start + n + 1)],
        AckFault::NeverSent => vec![ack(start, start + n), ack(start + n, start + 2 * n)],
        AckFault::Backwards => {
            let first_ack = ack(start, start + n);
            let send = respond::message_frame(&first_ack, false);
            respond::send_all(&mut stream, send, false).await?;
            let Some(second) = inputs.next().await else {
                return Ok(());
            };
            // Starts inside the first ack instead of at its end.
            let m = second.len() as u64;
            vec![ack(start, start + m)]
        }
    };
    for ack in acks {
        respond::send_all(&mut stream, respond::message_frame(&ack, false), false).await?;
    }
    park(&mut stream).await
}

/// Acks inputs in order, advising reconnects if `advise`. With a `limit`,
/// returns `true` as soon as an input past it arrives (not applied).
async fn serve_appends(
    shared: &Shared,
    stream: &mut SendStream<Bytes>,
    inputs: &mut InputReader,
    limit: Option<usize>,
    advise: bool,
) -> io::Result<bool> {
    let mut acked = 0;
    while let Some(input) = inputs.next().await {
        if limit.is_some_and(|limit| acked >= limit) {
            return Ok(true);
        }
        let ack = apply(shared, &input);
        respond::send_all(stream, respond::message_frame(&ack, advise), false).await?;
        acked += 1;
    }
    Ok(false)
}

/// Streams synthetic records from the request's `seq_num`, within its
/// `count`, [`PER_BATCH`] at a time: `batches` batches, or until the
/// client goes away.
async fn serve_reads(
    stream: &mut SendStream<Bytes>,
    request: &Request<RecvStream>,
    batches: Option<usize>,
    advise: bool,
) -> io::Result<()> {
    let mut next = query_u64(request, "seq_num").unwrap_or(0);
    let mut left = query_u64(request, "count");
    let mut sent = 0;
    while batches.is_none_or(|b| sent < b) {
        let n = left.map_or(PER_BATCH, |left| left.min(PER_BATCH));
        if n == 0 {
            // The client has all it asked for.
            return park(stream).await;
        }
        let frame = respond::message_frame(&batch(next..next + n), advise);
        respond::send_all(stream, frame, false).await?;
        next += n;
        left = left.map(|left| left - n);
        sent += 1;
        tokio::time::sleep(READ_INTERVAL).await;
    }
    Ok(())
}

async fn cut_session(
    connection: &ConnectionHandle,
    cut: Cut,
    stream: &mut SendStream<Bytes>,
) -> io::Result<()> {
    // h2 only queues DATA, and a reset drops what is queued: let the
    // connection write the frames already sent, so the cut comes after them.
    tokio::time::sleep(FLUSH_GRACE).await;
    match cut {
        Cut::GoAway => {
            connection.go_away();
            park(stream).await
        }
        Cut::Reset => {
            stream.send_reset(h2::Reason::INTERNAL_ERROR);
            Ok(())
        }
    }
}

/// Waits until the client resets the stream or the connection ends.
async fn park(stream: &mut SendStream<Bytes>) -> io::Result<()> {
    let _ = poll_fn(|cx| stream.poll_reset(cx)).await;
    Ok(())
}

async fn read_input(request: Request<RecvStream>) -> io::Result<AppendInput> {
    let mut body = request.into_body();
    let bytes = respond::read_body(&mut body, MAX_REQUEST_BODY).await?;
    AppendInput::decode(bytes).map_err(io::Error::other)
}

/// Applies `input` to the synthetic stream and acks it.
fn apply(shared: &Shared, input: &AppendInput) -> AppendAck {
    let n = input.len() as u64;
    let start = shared.tail.fetch_add(n, Ordering::SeqCst);
    ack(start, start + n)
}

fn position(seq_num: u64) -> StreamPosition {
    StreamPosition::new(seq_num, seq_num)
}

fn ack(start: u64, end: u64) -> AppendAck {
    AppendAck {
        start: position(start),
        end: position(end),
        tail: position(end),
    }
}

/// A batch of synthetic records: record `n` has body `record-n`.
fn batch(seq_nums: impl IntoIterator<Item = u64>) -> ReadBatch {
    ReadBatch {
        records: seq_nums
            .into_iter()
            .map(|seq_num| SequencedRecord::new(position(seq_num), format!("record-{seq_num}")))
            .collect(),
        tail: None,
    }
}

fn content_type(route: Route) -> &'static str {
    match route {
        Route::ListBasins | Route::CheckTail | Route::Other => "application/json",
        _ => "application/protobuf",
    }
}

/// Bytes that are neither protobuf nor JSON nor frames.
fn garbage() -> Bytes {
    Bytes::from(b"\xff\xff\xff\xff\xff{not json \x1b[31m".repeat(256))
}

fn hostile_error_json(len: usize) -> String {
    format!(
        r#"{{"code":{},"message":{}}}"#,
        respond::json_string(&respond::hostile_text(64)),
        respond::json_string(&respond::hostile_text(len)),
    )
}
