//! Read sessions: bounded, following the tail, and starting past it.

use futures_util::{StreamExt, TryStreamExt};
use s2_client::{
    Runtime, S2,
    types::{ReadLimit, ReadRequest, ReadStart},
};

use crate::{fresh_stream, support::numbered_batches};

/// A bounded read session delivers exactly the bounded range, across many
/// server batches, then ends.
pub async fn a_bounded_read_session_delivers_its_range_and_ends<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "rsb").await;
    for input in numbered_batches(5, 1000) {
        stream.append(&input).await.expect("append");
    }
    let mut session = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(100)).with_limit(ReadLimit::count(4321)));
    let mut next = 100;
    while let Some(item) = session.next().await {
        if let s2_client::session::ReadItem::Batch(batch) = item.expect("item") {
            for record in batch.records {
                assert_eq!(record.seq_num(), next);
                next += 1;
            }
        }
    }
    assert_eq!(next, 4421);
}

/// An unbounded read session catches up, says so, and then receives records
/// appended later, live.
pub async fn read_session_follows_the_tail<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "live").await;
    stream
        .append(&numbered_batches(1, 10)[0])
        .await
        .expect("append");
    let mut session = stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let mut seen = 0;
    let mut caught_up = false;
    while !caught_up || seen < 10 {
        match session.next().await.expect("open").expect("item") {
            s2_client::session::ReadItem::Batch(batch) => seen += batch.records.len(),
            s2_client::session::ReadItem::CaughtUp(tail) => {
                assert_eq!(tail.seq_num, 10);
                caught_up = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(session.is_caught_up());
    let writer = stream.clone();
    let append = async move {
        for input in numbered_batches(3, 7) {
            writer.append(&input).await.expect("live append");
        }
    };
    let read = async {
        while seen < 31 {
            if let s2_client::session::ReadItem::Batch(batch) =
                session.next().await.expect("open").expect("item")
            {
                seen += batch.records.len();
            }
        }
    };
    futures_util::future::join(append, read).await;
    assert_eq!(seen, 31);
    assert_eq!(session.next_seq_num(), Some(31));
}

/// A read session starting past the tail yields the tail and ends.
pub async fn read_session_past_tail<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "rspt").await;
    stream
        .append(&numbered_batches(1, 2)[0])
        .await
        .expect("append");
    let items: Vec<_> = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(50)))
        .try_collect()
        .await
        .expect("session");
    assert_eq!(
        items,
        vec![s2_client::session::ReadItem::Tail(items_tail(&items))]
    );
}

fn items_tail(items: &[s2_client::session::ReadItem]) -> s2_client::types::StreamPosition {
    match items.first() {
        Some(s2_client::session::ReadItem::Tail(tail)) => {
            assert_eq!(tail.seq_num, 2);
            *tail
        }
        other => panic!("expected a tail, got {other:?}"),
    }
}
