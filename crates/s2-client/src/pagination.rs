//! Listing every item across pages.

use std::future::Future;

use futures_core::Stream;
use futures_util::{StreamExt, TryStreamExt, stream};
use s2_core::{
    Error,
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
