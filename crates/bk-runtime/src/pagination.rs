//! Paging through list APIs: `.pages()` and `.items()` streams.
//!
//! Every paged API of the specs gets a `static PAGINATION: PageSpec` and three builder
//! methods from the generator: `.pages()`, `.items()` and `.concurrency(n)` (all built on
//! [`Paginator`]). The three paging styles of the BlueKing components are handled here, once:
//!
//! | style | request | example |
//! |---|---|---|
//! | [`PageStyle::StartLimit`] | `page: {start, limit, sort, enable_count}` (CMDB) | `cc.list_biz_hosts_topo` |
//! | [`PageStyle::PageNumber`] | `page` (from 1) and `page_size` (ITSM, monitor, usermanage) | `itsm.get_tickets` |
//! | [`PageStyle::StartLength`] | `start` and `length` (JOB) | `jobv3.get_job_plan_list` |
//!
//! The design keeps generic code small: the request is serialized to JSON once, the page
//! position is written into a clone of that JSON for every call, and each generated API
//! contributes only a `fn(Resp) -> PageData<Item>` that moves the items (and the total)
//! out of its typed response. The stream machinery is shared.
//!
//! Paging rules:
//! - The first page starts where the request says (`page.start`, `page`, `start`), 0 when
//!   it says nothing. The page size is [`Paginator::page_size`] if set, else the request's
//!   own size if it gives one, else the spec's largest size (at most
//!   [`DEFAULT_PAGE_SIZE_CAP`]), else [`DEFAULT_PAGE_SIZE`]; never more than the spec's
//!   maximum.
//! - The stream ends after the page that reaches the total (when the API reports one),
//!   after a page shorter than the page size (when it does not), on an empty page (never
//!   yielded) and after the first error (yielded).
//! - With [`Paginator::concurrency`] > 1 and a total, the pages after the first are fetched
//!   up to `n` at a time; they are yielded in order, so `.items()` gives the same sequence
//!   as a sequential walk. Without a total the walk stays sequential.
//!
//! Paging is not a snapshot: records created or deleted while walking may shift between
//! pages (as with every offset-paged API).
//!
//! ```no_run
//! use bk_runtime::pagination::{PageData, PageSpec, PageStyle, Paginator, TryStreamExt};
//! use bk_runtime::{ApiMeta, Client, Method};
//!
//! static META: ApiMeta = ApiMeta {
//!     component: "cc",
//!     name: "search_business",
//!     method: Method::Post,
//!     path: "/api/c/compapi{bk_api_ver}/cc/search_business/",
//!     idempotent: true,
//!     sensitive: &[],
//!     cache_ttl_secs: None,
//! };
//! static PAGING: PageSpec = PageSpec {
//!     style: PageStyle::StartLimit,
//!     param: "page",
//!     max_limit: Some(200),
//!     items: "info",
//!     total: Some("count"),
//! };
//!
//! #[derive(serde::Deserialize)]
//! struct Resp { count: i64, info: Vec<serde_json::Value> }
//!
//! fn split(r: Resp) -> PageData<serde_json::Value> {
//!     PageData::new(r.info, Some(r.count))
//! }
//!
//! # async fn demo(client: Client) -> Result<(), bk_runtime::Error> {
//! let all: Vec<serde_json::Value> =
//!     Paginator::new(client, &META, &PAGING, &serde_json::json!({}), split)
//!         .concurrency(4)
//!         .items()
//!         .try_collect()
//!         .await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::{self, BoxStream};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::Error;
use crate::meta::ApiMeta;

pub use futures::{Stream, StreamExt, TryStreamExt};

/// Page size used when the spec gives no maximum and the request no size.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// The default page size never exceeds this, even when the spec allows more (ITSM allows
/// 10 000); an explicit [`Paginator::page_size`] may go up to the spec's maximum.
pub const DEFAULT_PAGE_SIZE_CAP: u32 = 1000;

/// How an API pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageStyle {
    /// CMDB: an object parameter `{start, limit}` (its name is [`PageSpec::param`]).
    StartLimit,
    /// ITSM and others: `page` (from 1) and `page_size`.
    PageNumber,
    /// JOB: `start` and `length`.
    StartLength,
}

/// Static description of how one API pages; generated from the spec's `pagination`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageSpec {
    /// The paging style.
    pub style: PageStyle,
    /// [`PageStyle::StartLimit`]: the parameter holding the page object (`"page"`);
    /// [`PageStyle::PageNumber`]: the page-number parameter (`"page"`, its size is
    /// `page_size`); [`PageStyle::StartLength`]: the offset parameter (`"start"`, its size
    /// is `length`).
    pub param: &'static str,
    /// Largest page size the server accepts.
    pub max_limit: Option<u32>,
    /// Dot path of the items inside `data` (empty: `data` is the list). Informational: the
    /// generated split function does the extraction.
    pub items: &'static str,
    /// Dot path of the total inside `data`, when the API reports one. Informational.
    pub total: Option<&'static str>,
}

impl PageSpec {
    /// The page size used when neither the caller nor the request sets one.
    pub fn default_page_size(&self) -> u32 {
        match self.max_limit {
            Some(m) => m.clamp(1, DEFAULT_PAGE_SIZE_CAP),
            None => DEFAULT_PAGE_SIZE,
        }
    }

    fn size_key(&self) -> &'static str {
        match self.style {
            PageStyle::StartLimit => "limit",
            PageStyle::PageNumber => "page_size",
            PageStyle::StartLength => "length",
        }
    }

    /// Reads the starting offset and the page size the request asks for (0 when absent).
    fn requested(&self, params: &Value) -> (u64, u32) {
        let num = |v: Option<&Value>| -> u64 {
            match v {
                Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
                Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
                _ => 0,
            }
        };
        match self.style {
            PageStyle::StartLimit => {
                let page = params.get(self.param);
                (
                    num(page.and_then(|p| p.get("start"))),
                    clamp_u32(num(page.and_then(|p| p.get("limit")))),
                )
            }
            PageStyle::PageNumber => {
                let size = clamp_u32(num(params.get(self.size_key())));
                let page = num(params.get(self.param));
                (page.saturating_sub(1) * u64::from(size.max(1)), size)
            }
            PageStyle::StartLength => (
                num(params.get(self.param)),
                clamp_u32(num(params.get(self.size_key()))),
            ),
        }
    }

    /// Writes the position of the page at `offset` with `size` records into `params`.
    /// Other keys of a CMDB page object (`sort`, `enable_count`) are kept.
    fn apply(&self, params: &mut Value, offset: u64, size: u32) {
        let obj = match params {
            Value::Object(m) => m,
            other => {
                *other = Value::Object(Map::new());
                match other {
                    Value::Object(m) => m,
                    _ => unreachable!("just set to an object"),
                }
            }
        };
        match self.style {
            PageStyle::StartLimit => {
                let page = obj
                    .entry(self.param)
                    .or_insert_with(|| Value::Object(Map::new()));
                if !page.is_object() {
                    *page = Value::Object(Map::new());
                }
                if let Value::Object(p) = page {
                    p.insert("start".into(), offset.into());
                    p.insert("limit".into(), size.into());
                }
            }
            PageStyle::PageNumber => {
                obj.insert(self.param.into(), (offset / u64::from(size) + 1).into());
                obj.insert(self.size_key().into(), size.into());
            }
            PageStyle::StartLength => {
                obj.insert(self.param.into(), offset.into());
                obj.insert(self.size_key().into(), size.into());
            }
        }
    }
}

fn clamp_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// What one page holds: its items and, when the API reports it, the total number of records.
#[derive(Clone, Debug, PartialEq)]
pub struct PageData<Item> {
    /// The records of the page.
    pub items: Vec<Item>,
    /// Total number of matching records, when the response carries it.
    pub total: Option<u64>,
}

impl<Item> PageData<Item> {
    /// A page from its items and a total as the APIs send it (a negative total counts as
    /// unknown).
    pub fn new(items: Vec<Item>, total: Option<i64>) -> Self {
        PageData {
            items,
            total: total.and_then(|t| u64::try_from(t).ok()),
        }
    }
}

/// One fetched page, as yielded by [`Paginator::pages`].
#[derive(Clone, Debug, PartialEq)]
pub struct Page<Item> {
    /// Offset of the first record of this page (for page-number APIs: `(page - 1) * size`).
    pub offset: u64,
    /// Page size that was asked for.
    pub size: u32,
    /// The records.
    pub items: Vec<Item>,
    /// Total number of matching records, when the API reports it.
    pub total: Option<u64>,
}

/// Moves the items and the total out of a typed response. Generated per API.
pub type SplitFn<Resp, Item> = fn(Resp) -> PageData<Item>;

/// Walks every page of a paged API. Built by the generated `.pages()`, `.items()`,
/// `.concurrency(n)` or `.paginate()` builder methods, or by hand with [`Paginator::new`].
pub struct Paginator<Resp, Item> {
    client: Client,
    meta: &'static ApiMeta,
    spec: &'static PageSpec,
    params: Result<Value, Error>,
    split: SplitFn<Resp, Item>,
    page_size: Option<u32>,
    concurrency: usize,
}

impl<Resp, Item> fmt::Debug for Paginator<Resp, Item> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paginator")
            .field(
                "api",
                &format_args!("{}.{}", self.meta.component, self.meta.name),
            )
            .field("spec", self.spec)
            .field("page_size", &self.page_size)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl<Resp, Item> Clone for Paginator<Resp, Item> {
    fn clone(&self) -> Self {
        Paginator {
            client: self.client.clone(),
            meta: self.meta,
            spec: self.spec,
            params: match &self.params {
                Ok(v) => Ok(v.clone()),
                Err(e) => Err(Error::invalid_request(e.to_string())),
            },
            split: self.split,
            page_size: self.page_size,
            concurrency: self.concurrency,
        }
    }
}

impl<Resp, Item> Paginator<Resp, Item>
where
    Resp: DeserializeOwned + Send + 'static,
    Item: Send + 'static,
{
    /// A paginator over the API `meta`, paged as `spec` says, starting from the request
    /// `req` (its page position and size are the starting point). A request that does not
    /// serialize is reported by the first poll of the stream.
    pub fn new<Req: Serialize + ?Sized>(
        client: Client,
        meta: &'static ApiMeta,
        spec: &'static PageSpec,
        req: &Req,
        split: SplitFn<Resp, Item>,
    ) -> Self {
        let params = serde_json::to_value(req).map_err(|e| {
            Error::invalid_request(format!("request parameters cannot be serialized: {e}"))
                .with_target(meta.component, meta.name)
        });
        Paginator {
            client,
            meta,
            spec,
            params,
            split,
            page_size: None,
            concurrency: 1,
        }
    }

    /// Records per page; clamped to 1..=the spec's maximum.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Fetches up to `n` pages at a time once the first page has told the total
    /// (`n <= 1`: one at a time, the default). Pages and items keep their order.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The paging description of the API.
    pub fn spec(&self) -> &'static PageSpec {
        self.spec
    }

    /// Every page, in order; see the [module docs](self) for when it ends.
    pub fn pages(self) -> Pages<Item> {
        let params = match self.params {
            Ok(p) => p,
            Err(e) => return Pages(stream::once(async move { Err(e) }).boxed()),
        };
        let (start, asked) = self.spec.requested(&params);
        let mut size = self.page_size.unwrap_or(asked);
        if size == 0 {
            size = self.spec.default_page_size();
        }
        if let Some(max) = self.spec.max_limit {
            size = size.min(max.max(1));
        }
        let walk = Arc::new(Walk {
            client: self.client,
            meta: self.meta,
            spec: self.spec,
            params,
            split: self.split,
            size,
        });
        let concurrency = self.concurrency;
        let first = {
            let walk = walk.clone();
            async move { walk.fetch(start).await }
        };
        let s = stream::once(first)
            .flat_map(
                move |res| -> BoxStream<'static, Result<Page<Item>, Error>> {
                    let page = match res {
                        Err(e) => return stream::once(async move { Err(e) }).boxed(),
                        Ok(p) => p,
                    };
                    if page.items.is_empty() {
                        return stream::empty().boxed();
                    }
                    let next = walk.next_after(&page);
                    let rest = match (next, page.total) {
                        (None, _) => stream::empty().boxed(),
                        (Some(next), Some(total)) if concurrency > 1 => {
                            walk.clone().parallel(next, total, concurrency)
                        }
                        (Some(next), _) => walk.clone().sequential(next),
                    };
                    stream::once(async move { Ok(page) }).chain(rest).boxed()
                },
            )
            .boxed();
        Pages(s)
    }

    /// Every item of every page, in order.
    pub fn items(self) -> Items<Item> {
        let s = self
            .pages()
            .map_ok(|p| stream::iter(p.items.into_iter().map(Ok)))
            .try_flatten()
            .boxed();
        Items(s)
    }

    /// Collects every item into a `Vec` (shorthand for `.items().try_collect()`).
    pub async fn all(self) -> Result<Vec<Item>, Error> {
        self.items().try_collect().await
    }
}

/// The shared state of one walk.
struct Walk<Resp, Item> {
    client: Client,
    meta: &'static ApiMeta,
    spec: &'static PageSpec,
    params: Value,
    split: SplitFn<Resp, Item>,
    size: u32,
}

impl<Resp, Item> Walk<Resp, Item>
where
    Resp: DeserializeOwned + Send + 'static,
    Item: Send + 'static,
{
    async fn fetch(&self, offset: u64) -> Result<Page<Item>, Error> {
        let mut params = self.params.clone();
        self.spec.apply(&mut params, offset, self.size);
        let resp: Resp = self.client.send(self.meta, &params).await?;
        let data = (self.split)(resp);
        Ok(Page {
            offset,
            size: self.size,
            items: data.items,
            total: data.total,
        })
    }

    /// The offset of the page after `page`, or `None` when `page` was the last one.
    fn next_after(&self, page: &Page<Item>) -> Option<u64> {
        let n = page.items.len() as u64;
        if n == 0 {
            return None;
        }
        let end = page.offset + n;
        match page.total {
            Some(total) if end >= total => return None,
            None if n < u64::from(self.size) => return None,
            _ => {}
        }
        Some(self.step_from(page.offset, n))
    }

    /// Offset-based styles continue after the records received (a server that caps the page
    /// below the asked size loses nothing); page numbers advance by whole pages.
    fn step_from(&self, offset: u64, received: u64) -> u64 {
        match self.spec.style {
            PageStyle::PageNumber => offset + u64::from(self.size),
            PageStyle::StartLimit | PageStyle::StartLength => offset + received.max(1),
        }
    }

    fn sequential(self: Arc<Self>, start: u64) -> BoxStream<'static, Result<Page<Item>, Error>> {
        stream::unfold(Some(start), move |next| {
            let walk = self.clone();
            async move {
                let offset = next?;
                match walk.fetch(offset).await {
                    Err(e) => Some((Err(e), None)),
                    Ok(p) if p.items.is_empty() => None,
                    Ok(p) => {
                        let after = walk.next_after(&p);
                        Some((Ok(p), after))
                    }
                }
            }
        })
        .boxed()
    }

    fn parallel(
        self: Arc<Self>,
        start: u64,
        total: u64,
        n: usize,
    ) -> BoxStream<'static, Result<Page<Item>, Error>> {
        let size = u64::from(self.size.max(1));
        let offsets = (0..)
            .map(move |i: u64| start + i * size)
            .take_while(move |o| *o < total);
        stream::iter(offsets)
            .map(move |o| {
                let walk = self.clone();
                async move { walk.fetch(o).await }
            })
            .buffered(n)
            // Stop after the first error (yielded) or at the first empty page (not yielded).
            .scan(false, |stopped, r| {
                let out = if *stopped {
                    None
                } else {
                    match r {
                        Err(e) => {
                            *stopped = true;
                            Some(Some(Err(e)))
                        }
                        Ok(p) if p.items.is_empty() => None,
                        Ok(p) => Some(Some(Ok(p))),
                    }
                };
                futures::future::ready(out)
            })
            .filter_map(futures::future::ready)
            .boxed()
    }
}

/// The stream of pages returned by [`Paginator::pages`].
pub struct Pages<Item>(BoxStream<'static, Result<Page<Item>, Error>>);

/// The stream of items returned by [`Paginator::items`].
pub struct Items<Item>(BoxStream<'static, Result<Item, Error>>);

impl<Item> Stream for Pages<Item> {
    type Item = Result<Page<Item>, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl<Item> Stream for Items<Item> {
    type Item = Result<Item, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl<Item> fmt::Debug for Pages<Item> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pages")
    }
}

impl<Item> fmt::Debug for Items<Item> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Items")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CC: PageSpec = PageSpec {
        style: PageStyle::StartLimit,
        param: "page",
        max_limit: Some(500),
        items: "info",
        total: Some("count"),
    };
    const ITSM: PageSpec = PageSpec {
        style: PageStyle::PageNumber,
        param: "page",
        max_limit: Some(10_000),
        items: "items",
        total: Some("count"),
    };
    const JOB: PageSpec = PageSpec {
        style: PageStyle::StartLength,
        param: "start",
        max_limit: None,
        items: "data",
        total: None,
    };

    #[test]
    fn apply_keeps_page_object_keys() {
        let mut p = json!({"bk_biz_id": 3, "page": {"sort": "-bk_host_id", "limit": 7}});
        assert_eq!(CC.requested(&p), (0, 7));
        CC.apply(&mut p, 500, 500);
        assert_eq!(
            p,
            json!({"bk_biz_id": 3, "page": {"sort": "-bk_host_id", "start": 500, "limit": 500}})
        );
        let mut q = json!({"page": 3, "page_size": 20});
        assert_eq!(ITSM.requested(&q), (40, 20));
        ITSM.apply(&mut q, 60, 20);
        assert_eq!(q, json!({"page": 4, "page_size": 20}));
        let mut r = json!({});
        JOB.apply(&mut r, 10, 5);
        assert_eq!(r, json!({"start": 10, "length": 5}));
    }

    #[test]
    fn default_sizes() {
        assert_eq!(CC.default_page_size(), 500);
        assert_eq!(ITSM.default_page_size(), DEFAULT_PAGE_SIZE_CAP);
        assert_eq!(JOB.default_page_size(), DEFAULT_PAGE_SIZE);
        assert_eq!(PageData::new(vec![1], Some(-1)).total, None);
    }
}
