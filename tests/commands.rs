//! Command records: fencing, trimming, and reads that skip commands.

use bytes::Bytes;
use s2_client::{
    Error, Runtime, S2,
    error::AppendConditionFailed,
    types::{AppendRecord, Command, CommandRecord, FencingToken, ReadRequest, ReadStart},
};

use crate::{
    fresh_stream,
    support::{append_numbered, batch, seq_nums},
};

/// A fence command sets the token; appends with another token are rejected
/// with the current one.
pub async fn a_fence_command_fences_out_other_tokens<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "fence").await;
    let token = FencingToken::new("writer-1").expect("token");
    stream
        .append(&batch(vec![CommandRecord::fence(token.clone())]))
        .await
        .expect("fence");
    stream
        .append(&batch(vec![AppendRecord::new("ok")]).with_fencing_token(token.clone()))
        .await
        .expect("fenced append");
    let err = stream
        .append(
            &batch(vec![AppendRecord::new("no")])
                .with_fencing_token(FencingToken::new("writer-2").expect("token")),
        )
        .await
        .expect_err("wrong token");
    match err {
        Error::AppendCondition(AppendConditionFailed::FencingTokenMismatch { expected }) => {
            assert_eq!(expected, "writer-1")
        }
        other => panic!("expected a fencing token mismatch, got {other:?}"),
    }
    let records = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)))
        .await
        .expect("read")
        .into_records();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].command(),
        Some(Command::Fence("writer-1".into()))
    );
}

/// A trim command is a record on the stream and removes what precedes it.
pub async fn a_trim_command_removes_the_records_before_it<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "trim").await;
    append_numbered(&stream, 5, 1_000).await;
    let ack = stream
        .append(&batch(vec![CommandRecord::trim(3)]))
        .await
        .expect("trim");
    assert_eq!(ack.start.seq_num, 5);
    let records = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(5)))
        .await
        .expect("read")
        .into_records();
    assert_eq!(records[0].command(), Some(Command::Trim(3)));
}

/// `ignore_command_records` drops fence and trim records.
pub async fn ignore_command_records_drops_fence_and_trim<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "ignore").await;
    stream
        .append(&batch(vec![
            AppendRecord::new("a"),
            CommandRecord::fence(FencingToken::new("").expect("token")),
            AppendRecord::new("b"),
            CommandRecord::trim(0),
        ]))
        .await
        .expect("append");
    let all = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)))
        .await
        .expect("read all");
    assert_eq!(all.records().len(), 4);
    let data = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)).with_ignore_command_records(true))
        .await
        .expect("read data");
    let bodies: Vec<_> = data.records().iter().map(|r| r.body().clone()).collect();
    assert_eq!(bodies, vec![Bytes::from("a"), Bytes::from("b")]);
    assert_eq!(seq_nums(&data), vec![0, 2]);
}
