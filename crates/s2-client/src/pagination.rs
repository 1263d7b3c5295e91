//! Listing every item across pages.

use std::future::Future;

use futures_core::Stream;
use futures_util::{StreamExt, TryStreamExt, stream};
use s2_core::{
    Error,
    error::{ProtocolError, sanitize_server_text},
    types::{ListRequest, Page},
};

/// Streams every item of a paged listing: fetches a page, yields its items,
/// and continues after the last item's name while the service says there is
/// more.
pub(crate) fn paginate<T, F, Fut>(
    request: ListRequest,
    fetch: F,
    name_of: fn(&T) -> String,
) -> impl Stream<Item = Result<T, Error>> + Send + Unpin + 'static
where
    T: Send + 'static,
    F: Fn(ListRequest) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>, Error>> + Send + 'static,
{
    stream::try_unfold((Some(request), fetch), move |(next, fetch)| async move {
        let Some(request) = next else {
            return Ok::<_, Error>(None);
        };
        let page = fetch(request.clone()).await?;
        check_advances(&request.start_after, &page, name_of)?;
        let next = match (page.has_more, page.items.last()) {
            (true, Some(last)) => Some(request.with_start_after(name_of(last))),
            _ => None,
        };
        Ok(Some((page.items, (next, fetch))))
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
    .boxed()
}

/// Checks that a page moves the listing forward: its names strictly
/// increase and all come after `start_after`, and a page that says there is
/// more is not empty. Otherwise a confused or hostile server could keep the
/// listing going forever (or hand out the same items twice).
fn check_advances<T>(
    start_after: &str,
    page: &Page<T>,
    name_of: fn(&T) -> String,
) -> Result<(), Error> {
    let stalled = || {
        Error::from(ProtocolError::PageNotAdvancing {
            start_after: sanitize_server_text(start_after, 64),
        })
    };
    if page.has_more && page.items.is_empty() {
        return Err(stalled());
    }
    let mut previous: Option<String> = None;
    for item in &page.items {
        let name = name_of(item);
        let after = previous.as_deref().unwrap_or(start_after);
        // An empty `start_after` means "from the start": any name follows it.
        if name.as_str() <= after && !(previous.is_none() && start_after.is_empty()) {
            return Err(stalled());
        }
        previous = Some(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{
        future::{Ready, ready},
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
    };

    use futures_util::FutureExt;

    use super::*;

    /// Drains a listing whose fetches complete at once, stopping after
    /// `max` items so a listing that never ends cannot hang the test.
    fn drain<T: Send + 'static>(
        pages: impl Fn(&ListRequest) -> Page<T> + Send + Sync + 'static,
        name_of: fn(&T) -> String,
        max: usize,
    ) -> (Vec<T>, Option<Error>, usize) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = fetches.clone();
        let fetch = move |request: ListRequest| -> Ready<Result<Page<T>, Error>> {
            counter.fetch_add(1, Ordering::Relaxed);
            ready(Ok(pages(&request)))
        };
        let mut listing = paginate(ListRequest::new(), fetch, name_of);
        let mut items = Vec::new();
        while items.len() < max {
            match listing
                .next()
                .now_or_never()
                .expect("fetches complete at once")
            {
                Some(Ok(item)) => items.push(item),
                Some(Err(e)) => return (items, Some(e), fetches.load(Ordering::Relaxed)),
                None => break,
            }
        }
        (items, None, fetches.load(Ordering::Relaxed))
    }

    #[allow(clippy::ptr_arg, reason = "the `name_of` signature `paginate` takes")]
    fn name(item: &String) -> String {
        item.clone()
    }

    fn page(items: &[&str], has_more: bool) -> Page<String> {
        Page {
            items: items.iter().map(|s| s.to_string()).collect(),
            has_more,
        }
    }

    fn stalled(error: Option<Error>) -> bool {
        matches!(
            error,
            Some(Error::Protocol(ProtocolError::PageNotAdvancing { .. }))
        )
    }

    #[test]
    fn follows_pages_until_no_more() {
        let (items, error, fetches) = drain(
            |r| match r.start_after.as_str() {
                "" => page(&["a", "b"], true),
                "b" => page(&["c"], false),
                other => panic!("unexpected start_after {other}"),
            },
            name,
            100,
        );
        assert!(error.is_none());
        assert_eq!(items, ["a", "b", "c"]);
        assert_eq!(fetches, 2);
    }

    #[test]
    fn the_same_page_again_ends_the_listing() {
        let (items, error, fetches) = drain(|_| page(&["a", "b"], true), name, 1000);
        assert!(stalled(error));
        assert_eq!(items, ["a", "b"]);
        assert_eq!(fetches, 2);
    }

    #[test]
    fn an_empty_page_with_more_ends_the_listing() {
        let (items, error, fetches) = drain(|_| page(&[], true), name, 1000);
        assert!(stalled(error));
        assert!(items.is_empty());
        assert_eq!(fetches, 1);
    }

    #[test]
    fn a_page_going_backwards_ends_the_listing() {
        let (_, error, _) = drain(
            |r| match r.start_after.as_str() {
                "" => page(&["m"], true),
                _ => page(&["a", "z"], true),
            },
            name,
            1000,
        );
        assert!(stalled(error));
        let (_, error, _) = drain(|_| page(&["b", "a"], false), name, 1000);
        assert!(stalled(error));
    }
}
