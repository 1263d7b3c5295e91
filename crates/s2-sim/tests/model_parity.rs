//! The model against s2-lite 0.43.4, request for request: one script of
//! raw HTTP/2 requests (as the client sends them) runs against both, and
//! the transcripts (status, content type, provision result, body) must be
//! equal. Bodies are compared byte for byte, JSON and protobuf alike, with
//! one normalisation: creation times (wall clock in s2-lite, the runtime's
//! clock in the model) are masked. Records carry their own timestamps, far
//! in the past, so both servers keep them as sent.
//!
//! Not compared, because they differ on purpose: trims (s2-lite trims in
//! the background), anything after a delete (s2-lite deletes in the
//! background: a second delete of a stream may still get a 202), compressed
//! bodies.

mod model_common;

use bytes::{Bytes, BytesMut};
use http::{Method, Request};
use s2_core::{
    frame::{self, Compression, Frame, FrameDecoder, FrameLimits, WireMessage},
    types::{AppendInput, AppendRecord, CommandRecord},
};
use s2_sim::model::Faults;
use s2_test_server::TestServer;

const BASIN: &str = "parity-basin";

/// A raw HTTP/2 client: requests as the s2 client builds them.
struct Raw {
    send: h2::client::SendRequest<Bytes>,
}

/// One exchange, as compared.
#[derive(Debug, PartialEq, Eq)]
struct Exchange {
    label: &'static str,
    status: u16,
    content_type: Option<String>,
    provision: Option<String>,
    body: Body,
}

#[derive(Debug, PartialEq, Eq)]
enum Body {
    Text(String),
    Bytes(Vec<u8>),
    /// Session frames: (flag byte, payload).
    Frames(Vec<(u8, Vec<u8>)>),
}

impl Raw {
    async fn connect(endpoint: &str) -> Self {
        let addr = endpoint.trim_start_matches("http://");
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (send, connection) = h2::client::handshake(tcp).await.expect("handshake");
        tokio::spawn(connection);
        Self { send }
    }

    fn request(method: Method, path: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://localhost{path}"))
            .header("authorization", "Bearer parity");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request")
    }

    /// Sends `step`; reads the whole answer, or the first frames of a
    /// session that does not end by itself.
    async fn call(&mut self, step: Step) -> Exchange {
        let Step {
            label,
            method,
            path,
            headers,
            body,
            frames,
        } = step;
        let request = Self::request(method, &path, &headers);
        let mut send = self.send.clone().ready().await.expect("ready");
        let (response, mut stream) = send.send_request(request, body.is_empty()).expect("send");
        if !body.is_empty() {
            stream.send_data(body, true).expect("body");
        }
        let response = response.await.expect("response");
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().expect("ascii").to_owned())
        };
        let content_type = header("content-type");
        let provision = header("s2-provision-result");
        let mut body = response.into_body();
        let session = content_type.as_deref() == Some("s2s/proto");
        let mut bytes = BytesMut::new();
        let mut decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
        let mut decoded = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("body");
            let _ = body.flow_control().release_capacity(chunk.len());
            if session {
                decoder.handle_data(chunk);
                while let Some(frame) = decoder.poll_frame().expect("frame") {
                    decoded.push(match frame {
                        Frame::Message {
                            payload,
                            reconnect_advised,
                        } => (u8::from(reconnect_advised), payload.to_vec()),
                        Frame::Terminal { status, body } => {
                            let mut out = status.to_be_bytes().to_vec();
                            out.extend_from_slice(&body);
                            (frame::FLAG_TERMINAL, out)
                        }
                    });
                }
                if frames.is_some_and(|n| decoded.len() >= n) {
                    break;
                }
            } else {
                bytes.extend_from_slice(&chunk);
            }
        }
        let body = if session {
            Body::Frames(decoded)
        } else if content_type.as_deref() == Some("application/json") {
            Body::Text(mask_times(std::str::from_utf8(&bytes).expect("utf-8")))
        } else {
            Body::Bytes(bytes.to_vec())
        };
        Exchange {
            label,
            status,
            content_type,
            provision,
            body,
        }
    }
}

/// `text` with every `"created_at":"..."` value masked.
fn mask_times(text: &str) -> String {
    const KEY: &str = "\"created_at\":\"";
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(KEY) {
        out.push_str(&rest[..at + KEY.len()]);
        rest = &rest[at + KEY.len()..];
        let end = rest.find('"').expect("closing quote");
        out.push_str("TIME");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn records(bodies: &[(&str, u64)]) -> AppendInput {
    AppendInput::new(
        bodies
            .iter()
            .map(|(body, ts)| AppendRecord::new(body.to_string()).with_timestamp(*ts))
            .collect::<Vec<_>>(),
    )
    .expect("batch")
}

fn session_body(inputs: &[AppendInput]) -> Bytes {
    let mut out = BytesMut::new();
    for input in inputs {
        frame::encode_message(&mut out, input, Compression::None).expect("frame");
    }
    out.freeze()
}

type Header = (&'static str, &'static str);

const JSON: Header = ("content-type", "application/json");
const PROTO: Header = ("content-type", "application/protobuf");
const ACCEPT: Header = ("accept", "application/protobuf");
const S2S: Header = ("content-type", "s2s/proto");
const IN_BASIN: Header = ("s2-basin", BASIN);
const TOKEN: Header = ("s2-request-token", "parity-token");

/// One request of the script.
struct Step {
    label: &'static str,
    method: Method,
    path: String,
    headers: Vec<Header>,
    body: Bytes,
    /// For a session that does not end by itself: how many frames to read.
    frames: Option<usize>,
}

fn step(label: &'static str, method: Method, path: impl Into<String>) -> Step {
    Step {
        label,
        method,
        path: path.into(),
        headers: Vec::new(),
        body: Bytes::new(),
        frames: None,
    }
}

fn get(label: &'static str, path: impl Into<String>) -> Step {
    step(label, Method::GET, path)
}

fn post(label: &'static str, path: impl Into<String>) -> Step {
    step(label, Method::POST, path)
}

fn put(label: &'static str, path: impl Into<String>) -> Step {
    step(label, Method::PUT, path)
}

fn delete(label: &'static str, path: impl Into<String>) -> Step {
    step(label, Method::DELETE, path)
}

impl Step {
    fn with(mut self, headers: &[Header]) -> Self {
        self.headers.extend_from_slice(headers);
        self
    }

    fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    fn frames(mut self, n: usize) -> Self {
        self.frames = Some(n);
        self
    }

    /// An append of `input` to stream `s`, as the client sends one.
    fn append(label: &'static str, input: AppendInput) -> Self {
        post(label, "/v1/streams/s/records")
            .with(&[IN_BASIN, PROTO, ACCEPT])
            .body(input.encode_to_bytes())
    }

    /// A unary read of stream `s` with `query`.
    fn read(label: &'static str, query: &str) -> Self {
        get(label, format!("/v1/streams/s/records?{query}")).with(&[IN_BASIN, ACCEPT])
    }
}

/// The script: every route the client uses, and the errors it must parse.
fn script() -> Vec<Step> {
    let create_basin = format!(r#"{{"basin":"{BASIN}"}}"#);
    let basin_path = format!("/v1/basins/{BASIN}");
    let token = |t: &str| s2_core::FencingToken::new(t).expect("token");
    let fence = AppendInput::new(vec![
        CommandRecord::fence(token("tok")).with_timestamp(1003),
    ])
    .expect("fence");
    let session_inputs = [
        records(&[("e", 1005)]).with_match_seq_num(5),
        records(&[("f", 1006), ("g", 1007)]),
        records(&[("h", 1008)]).with_match_seq_num(2),
        records(&[("i", 1009)]),
    ];
    let mut steps = vec![
        post("create basin", "/v1/basins")
            .with(&[JSON, TOKEN])
            .body(create_basin.clone()),
        post("create basin retried", "/v1/basins")
            .with(&[JSON, TOKEN])
            .body(create_basin.clone()),
        post("create basin again", "/v1/basins")
            .with(&[JSON])
            .body(create_basin),
        get("list basins", "/v1/basins"),
        get("list basins, prefix", "/v1/basins?prefix=zz&limit=1"),
        get("basin config", basin_path.clone()),
        put("ensure basin", basin_path.clone())
            .with(&[JSON])
            .body("{}"),
        get("basin missing", "/v1/basins/no-such-basin"),
        post("create stream", "/v1/streams")
            .with(&[JSON, IN_BASIN, TOKEN])
            .body(r#"{"stream":"s"}"#),
        post("create stream again", "/v1/streams")
            .with(&[JSON, IN_BASIN])
            .body(r#"{"stream":"s"}"#),
        put("ensure stream", "/v1/streams/e")
            .with(&[JSON, IN_BASIN])
            .body("{}"),
        put("ensure stream again", "/v1/streams/e")
            .with(&[JSON, IN_BASIN])
            .body("{}"),
        put("ensure stream, null", "/v1/streams/n")
            .with(&[JSON, IN_BASIN])
            .body("null"),
        put("ensure stream, no body", "/v1/streams/n").with(&[IN_BASIN]),
        get("list streams", "/v1/streams").with(&[IN_BASIN]),
        get("stream config", "/v1/streams/s").with(&[IN_BASIN]),
        get("tail, empty", "/v1/streams/s/records/tail").with(&[IN_BASIN]),
        get("tail, no stream", "/v1/streams/nope/records/tail").with(&[IN_BASIN]),
        get("tail, no basin header", "/v1/streams/s/records/tail"),
        Step::read("read at the tail", "seq_num=0"),
        Step::append("append", records(&[("a", 1000), ("b", 1001), ("c", 1002)])),
        Step::append(
            "append, stale match",
            records(&[("x", 1002)]).with_match_seq_num(0),
        ),
        Step::append("fence", fence),
        Step::append(
            "append, wrong token",
            records(&[("y", 1004)]).with_fencing_token(token("other")),
        ),
        Step::append(
            "append, earlier timestamp",
            records(&[("d", 999)]).with_match_seq_num(4),
        ),
    ];
    for (label, query) in [
        ("read all", "seq_num=0"),
        ("read count", "seq_num=1&count=2"),
        ("read past the tail", "seq_num=9"),
        ("read past the tail, clamped", "seq_num=9&clamp=true"),
        ("read from a timestamp", "timestamp=1002"),
        ("read from a tail offset", "tail_offset=2"),
        ("read until", "seq_num=0&until=1002"),
        ("read count 0", "seq_num=0&count=0"),
        ("read bytes 1", "seq_num=0&bytes=1"),
        ("read bytes 20", "seq_num=0&bytes=20"),
        ("read bad query", "seq_num=x"),
        ("read two starts", "seq_num=0&tail_offset=1"),
        ("read until before start", "timestamp=1002&until=1001"),
    ] {
        steps.push(Step::read(label, query));
    }
    let session = |label, query: &str| {
        get(label, format!("/v1/streams/s/records?{query}")).with(&[IN_BASIN, S2S])
    };
    steps.extend([
        session("read session, bounded", "seq_num=1&count=3"),
        session("read session, to the tail", "seq_num=0").frames(2),
        session("read session, past the tail", "seq_num=99"),
        get(
            "read session, no stream",
            "/v1/streams/nope/records?seq_num=0",
        )
        .with(&[IN_BASIN, S2S]),
        post("append session, failing", "/v1/streams/s/records")
            .with(&[IN_BASIN, S2S])
            .body(session_body(&session_inputs)),
        post("append session, no stream", "/v1/streams/nope/records")
            .with(&[IN_BASIN, S2S])
            .body(session_body(&session_inputs[..1])),
        Step::read("read after the session", "seq_num=5"),
        get("tail after the session", "/v1/streams/s/records/tail").with(&[IN_BASIN]),
        delete("delete stream", "/v1/streams/e").with(&[IN_BASIN]),
        delete("delete basin", basin_path),
        get("no such route", "/v1/nothing"),
    ]);
    steps
}

/// The exchanges of [`script`] with the server at `endpoint`.
async fn transcript(endpoint: &str) -> Vec<Exchange> {
    let mut raw = Raw::connect(endpoint).await;
    let mut out = Vec::new();
    for step in script() {
        out.push(raw.call(step).await);
    }
    out
}

#[tokio::test]
async fn the_model_answers_as_s2_lite_does() {
    let lite = TestServer::start().expect("s2-lite");
    let served = model_common::serve(99, Faults::none()).await;
    let expected = transcript(&lite.endpoint()).await;
    let actual = transcript(&served.endpoint).await;
    assert_eq!(expected.len(), actual.len());
    let mut differences = Vec::new();
    for (lite, model) in expected.iter().zip(&actual) {
        if lite != model {
            differences.push(format!("s2-lite: {lite:?}\nmodel:   {model:?}"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} exchanges differ:\n{}",
        differences.len(),
        expected.len(),
        differences.join("\n\n")
    );
    eprintln!("{} exchanges equal", expected.len());
}
