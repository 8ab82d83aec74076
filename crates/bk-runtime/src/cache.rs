//! A response cache with a time to live and single-flight, for the APIs whose spec says
//! their result may be cached (`cache: { ttl: ... }`, [`ApiMeta::cache_ttl_secs`]).
//!
//! Off by default: enable it with [`ClientBuilder::cache`](crate::ClientBuilder::cache).
//! A cached answer can be up to a TTL old (300 s for most specs), which surprises code that
//! changes a resource and reads it back; so the cache is something a program asks for,
//! knowing its data, not something it discovers. Only typed calls of cacheable APIs
//! ([`Client::send`](crate::Client::send), [`Client::send_with`](crate::Client::send_with))
//! use it; [`Client::send_raw`](crate::Client::send_raw) and the untyped
//! [`Client::call`](crate::Client::call) never do.
//!
//! ```no_run
//! use std::time::Duration;
//! use bk_runtime::cache::Cache;
//! use bk_runtime::{CallOptions, Client};
//!
//! # fn main() -> Result<(), bk_runtime::Error> {
//! let cache = Cache::new(10_000).max_ttl(Duration::from_secs(60));
//! let client = Client::builder()
//!     .endpoint("http://paas.example.com")
//!     .app_code("my-app")
//!     .app_secret("s3cr3t")
//!     .cache(cache.clone())
//!     .build()?;
//! // A call that must see the server's current state:
//! let fresh = CallOptions::new().no_cache();
//! # let _ = (client, fresh, cache.stats()); Ok(()) }
//! ```
//!
//! # Behaviour
//!
//! - **Key**: component, API, the request parameters in canonical form (object keys sorted)
//!   and the caller's identity: endpoint, API version, test-env flag, language, app code,
//!   app secret and the user credential in force ([`Client::user`](crate::Client::user):
//!   the builder's, or the last one a [`CredentialProvider`](crate::CredentialProvider)
//!   supplied; until a provider has supplied one, calls are not cached). One user's (or
//!   app's) answers are never served to another, and a client with a wrong secret cannot
//!   read what a right one fetched. A renewed token is a new identity: answers fetched
//!   with the old one are simply no longer found. The
//!   parameters and the identity are folded into an HMAC-SHA1 digest under a random key
//!   made for each [`Cache`], so no secret and no parameter is kept in clear.
//! - **Single-flight**: concurrent calls with the same key share one request. The first
//!   sends it with its own [`CallOptions`] (retries, timeout); the others
//!   wait for its outcome. If it fails, every waiter gets the error (a copy of it: same
//!   kind, code, message, request id). If every waiter gives up (their futures are
//!   dropped), the request is cancelled and the next call starts a new one.
//! - **Errors are not cached**: neither transport, HTTP nor `result: false` errors; nor
//!   answers whose `data` does not decode (the entry is dropped).
//! - **TTL**: the spec's, capped by [`Cache::max_ttl`]. An expired entry is fetched again.
//! - **Size**: at most `max_entries` answers; the least recently used goes first.
//!   `Cache::new(0)` keeps nothing but still merges concurrent identical calls.
//! - **Bypass**: [`CallOptions::no_cache`](method@crate::CallOptions::no_cache) skips the lookup
//!   and the single-flight and always sends; its fresh answer replaces the cached one, so
//!   later cached calls never see data older than what the program has already read.
//! - Cache hits run no [`Hook`](crate::Hook) (no attempt is made) and are logged at `trace`
//!   level with the component and API only.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt as _, Shared, WeakShared};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;

use crate::client::CallOptions;
use crate::config::{Config, UserAuth};
use crate::envelope::RawResponse;
use crate::error::Error;
use crate::meta::ApiMeta;

type Digest = [u8; 20];

/// The cache key: API names in clear (they are not secret, and they allow
/// [`Cache::invalidate`]), everything else digested.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    component: &'static str,
    api: &'static str,
    digest: Digest,
}

/// Counters of a [`Cache`] ([`Cache::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Calls answered from the cache.
    pub hits: u64,
    /// Calls that sent a request (lookups that found nothing fresh, and bypasses).
    pub misses: u64,
    /// Calls that waited for an identical call already in flight.
    pub shared: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
}

/// A response cache shared by the clones of the clients it is given to. Cheap to clone
/// (clones share the entries). See the [module documentation](self).
#[derive(Clone)]
pub struct Cache {
    store: Store<RawResponse>,
    max_ttl: Option<Duration>,
    key_secret: Arc<[u8; 32]>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("max_entries", &self.store.max_entries)
            .field("len", &self.len())
            .field("max_ttl", &self.max_ttl)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A cache of at most `max_entries` answers, with the TTLs of the specs.
    pub fn new(max_entries: usize) -> Cache {
        Cache {
            store: Store::new(max_entries),
            max_ttl: None,
            key_secret: Arc::new(rand::random()),
        }
    }

    /// Keeps no answer longer than `ttl`, whatever the spec allows (`Duration::ZERO`:
    /// keep nothing, only merge concurrent identical calls).
    pub fn max_ttl(mut self, ttl: Duration) -> Cache {
        self.max_ttl = Some(ttl);
        self
    }

    /// Most answers kept.
    pub fn max_entries(&self) -> usize {
        self.store.max_entries
    }

    /// Answers held now (expired ones included until they are looked up or evicted).
    pub fn len(&self) -> usize {
        self.store.lock().entries.len()
    }

    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every answer (calls in flight are not affected).
    pub fn clear(&self) {
        let mut st = self.store.lock();
        st.entries.clear();
        st.lru.clear();
    }

    /// Drops every answer of one API, e.g. after changing what it returns.
    pub fn invalidate(&self, component: &str, api: &str) {
        let mut st = self.store.lock();
        let gone: Vec<Key> = st
            .entries
            .keys()
            .filter(|k| k.component == component && k.api == api)
            .cloned()
            .collect();
        for k in gone {
            st.remove(&k);
        }
    }

    /// Hit, miss, sharing and eviction counters since the cache was made.
    pub fn stats(&self) -> CacheStats {
        self.store.stats()
    }

    /// The key of a call: digest of the identity and the canonical parameters.
    fn key(&self, config: &Config, user: &UserAuth, meta: &ApiMeta, params: &Value) -> Key {
        let mut mac = match Hmac::<Sha1>::new_from_slice(&self.key_secret[..]) {
            Ok(m) => m,
            // HMAC accepts keys of any length; this arm is never taken.
            Err(_) => return Key::unkeyed(meta),
        };
        let mut field = |b: &[u8]| {
            mac.update(&(b.len() as u64).to_be_bytes());
            mac.update(b);
        };
        field(config.endpoint.as_str().as_bytes());
        field(config.api_version.path_segment().as_bytes());
        field(&[u8::from(config.use_test_env)]);
        field(config.language.as_bytes());
        field(config.app_code.as_bytes());
        field(config.app_secret.expose().as_bytes());
        let (kind, user): (&[u8], &str) = match user {
            UserAuth::BkToken(s) => (b"bk_token", s.expose()),
            UserAuth::BkUsername(u) => (b"bk_username", u),
            UserAuth::AccessToken(s) => (b"access_token", s.expose()),
            UserAuth::None => (b"none", ""),
        };
        field(kind);
        field(user.as_bytes());
        canonical(&mut mac, params);
        Key {
            component: meta.component,
            api: meta.name,
            digest: mac.finalize().into_bytes().into(),
        }
    }

    fn ttl(&self, spec_secs: u32) -> Duration {
        let ttl = Duration::from_secs(u64::from(spec_secs));
        match self.max_ttl {
            Some(m) => ttl.min(m),
            None => ttl,
        }
    }
}

impl Key {
    /// A key that matches no other (fallback that the HMAC never needs).
    fn unkeyed(meta: &ApiMeta) -> Key {
        Key {
            component: meta.component,
            api: meta.name,
            digest: rand::random(),
        }
    }
}

/// Feeds `v` to the MAC in an unambiguous canonical form: object keys sorted, every
/// string and number length-prefixed.
fn canonical(mac: &mut Hmac<Sha1>, v: &Value) {
    let mut text = |tag: u8, s: &str| {
        mac.update(&[tag]);
        mac.update(&(s.len() as u64).to_be_bytes());
        mac.update(s.as_bytes());
    };
    match v {
        Value::Null => text(b'n', ""),
        Value::Bool(b) => text(b'b', if *b { "1" } else { "0" }),
        Value::Number(n) => text(b'#', &n.to_string()),
        Value::String(s) => text(b's', s),
        Value::Array(a) => {
            mac.update(b"[");
            mac.update(&(a.len() as u64).to_be_bytes());
            for x in a {
                canonical(mac, x);
            }
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable();
            mac.update(b"{");
            mac.update(&(keys.len() as u64).to_be_bytes());
            for k in keys {
                mac.update(&(k.len() as u64).to_be_bytes());
                mac.update(k.as_bytes());
                if let Some(x) = m.get(k) {
                    canonical(mac, x);
                }
            }
        }
    }
}

/// How one call uses the cache ([`plan`]).
pub(crate) struct Plan<'a> {
    cache: &'a Cache,
    key: Key,
    ttl: Duration,
    bypass: bool,
}

/// The cache plan of a typed call made as `user` (the client's user in force, which a
/// credential provider may renew): `None` when the client has no cache or the API is not
/// cacheable.
pub(crate) fn plan<'a>(
    config: &'a Config,
    user: &UserAuth,
    meta: &'static ApiMeta,
    params: &Value,
    opts: &CallOptions,
) -> Option<Plan<'a>> {
    let secs = meta.cache_ttl_secs?;
    let cache = config.cache.as_ref()?;
    Some(Plan {
        cache,
        key: cache.key(config, user, meta, params),
        ttl: cache.ttl(secs),
        bypass: opts.no_cache,
    })
}

impl Plan<'_> {
    /// The answer: cached, shared with an identical call in flight, or fetched by `fetch`.
    pub(crate) async fn fetch<Fut>(&self, fetch: Fut) -> Result<Arc<RawResponse>, Error>
    where
        Fut: Future<Output = Result<RawResponse, Error>> + Send + 'static,
    {
        let store = &self.cache.store;
        if self.bypass {
            store.refresh(self.key.clone(), self.ttl, fetch).await
        } else {
            store.get_or_fetch(self.key.clone(), self.ttl, fetch).await
        }
    }

    /// Drops the entry of this call (its data did not decode).
    pub(crate) fn forget(&self) {
        self.cache.store.lock().remove(&self.key);
    }
}

type Outcome<V> = Result<Arc<V>, Arc<Error>>;
type Flight<V> = Shared<BoxFuture<'static, Outcome<V>>>;

struct Entry<V> {
    value: Arc<V>,
    expires: Instant,
    /// When the request that produced it started; an older answer never replaces a newer one.
    fetched: Instant,
    /// Position in the LRU order.
    tick: u64,
}

struct InFlight<V> {
    id: u64,
    flight: WeakShared<BoxFuture<'static, Outcome<V>>>,
}

struct State<V> {
    entries: HashMap<Key, Entry<V>>,
    /// Tick of last use -> key; the first is the least recently used.
    lru: BTreeMap<u64, Key>,
    tick: u64,
    flights: HashMap<Key, InFlight<V>>,
    next_flight: u64,
}

impl<V> State<V> {
    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.lru.remove(&e.tick);
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// A fresh entry, marked as just used; expired entries are dropped.
    fn hit(&mut self, key: &Key, now: Instant) -> Option<Arc<V>> {
        let (old_tick, expired) = {
            let e = self.entries.get(key)?;
            (e.tick, e.expires <= now)
        };
        if expired {
            self.remove(key);
            return None;
        }
        let tick = self.next_tick();
        self.lru.remove(&old_tick);
        self.lru.insert(tick, key.clone());
        let e = self.entries.get_mut(key)?;
        e.tick = tick;
        Some(e.value.clone())
    }

    /// Stores an answer unless a newer one is there; evicts the least recently used
    /// entries to stay within `max`. Returns the number evicted.
    fn insert(
        &mut self,
        key: Key,
        value: Arc<V>,
        fetched: Instant,
        ttl: Duration,
        max: usize,
    ) -> u64 {
        if max == 0 || ttl.is_zero() {
            return 0;
        }
        if self.entries.get(&key).is_some_and(|e| e.fetched > fetched) {
            return 0;
        }
        self.remove(&key);
        let mut evicted = 0;
        while self.entries.len() >= max {
            let Some((_, k)) = self.lru.pop_first() else {
                break;
            };
            self.entries.remove(&k);
            evicted += 1;
        }
        let tick = self.next_tick();
        self.lru.insert(tick, key.clone());
        self.entries.insert(
            key,
            Entry {
                value,
                expires: fetched + ttl,
                fetched,
                tick,
            },
        );
        evicted
    }
}

struct StoreInner<V> {
    state: Mutex<State<V>>,
    hits: AtomicU64,
    misses: AtomicU64,
    shared: AtomicU64,
    evictions: AtomicU64,
}

/// The cache machinery, generic over the cached value (tests use plain numbers).
struct Store<V> {
    inner: Arc<StoreInner<V>>,
    max_entries: usize,
}

impl<V> Clone for Store<V> {
    fn clone(&self) -> Self {
        Store {
            inner: self.inner.clone(),
            max_entries: self.max_entries,
        }
    }
}

impl<V: Send + Sync + 'static> Store<V> {
    fn new(max_entries: usize) -> Self {
        Store {
            inner: Arc::new(StoreInner {
                state: Mutex::new(State {
                    entries: HashMap::new(),
                    lru: BTreeMap::new(),
                    tick: 0,
                    flights: HashMap::new(),
                    next_flight: 0,
                }),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                shared: AtomicU64::new(0),
                evictions: AtomicU64::new(0),
            }),
            max_entries,
        }
    }

    /// Locks the state, recovering it if a panicking thread poisoned the lock (every
    /// update leaves it consistent).
    fn lock(&self) -> MutexGuard<'_, State<V>> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
            shared: self.inner.shared.load(Ordering::Relaxed),
            evictions: self.inner.evictions.load(Ordering::Relaxed),
        }
    }

    /// Stores a successful answer.
    fn store(&self, key: Key, value: Arc<V>, fetched: Instant, ttl: Duration) {
        let n = self
            .lock()
            .insert(key, value, fetched, ttl, self.max_entries);
        if n > 0 {
            self.inner.evictions.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The cached value, the outcome of the identical call in flight, or the outcome of
    /// `fetch` (which is then shared with identical calls made meanwhile).
    async fn get_or_fetch<Fut>(&self, key: Key, ttl: Duration, fetch: Fut) -> Result<Arc<V>, Error>
    where
        Fut: Future<Output = Result<V, Error>> + Send + 'static,
    {
        let flight: Flight<V> = {
            let mut st = self.lock();
            let now = Instant::now();
            if let Some(v) = st.hit(&key, now) {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(component = key.component, api = key.api, "cache hit");
                return Ok(v);
            }
            match st.flights.get(&key).and_then(|f| f.flight.upgrade()) {
                Some(f) => {
                    self.inner.shared.fetch_add(1, Ordering::Relaxed);
                    f
                }
                None => {
                    self.inner.misses.fetch_add(1, Ordering::Relaxed);
                    st.next_flight += 1;
                    let id = st.next_flight;
                    let store = self.clone();
                    let k = key.clone();
                    let f = async move {
                        let r = fetch.await;
                        store.land(&k, id, now, ttl, r)
                    }
                    .boxed()
                    .shared();
                    if let Some(weak) = f.downgrade() {
                        st.flights.insert(key, InFlight { id, flight: weak });
                    }
                    f
                }
            }
        };
        flight.await.map_err(unshare)
    }

    /// Ends flight `id`: forgets it and stores a success.
    fn land(
        &self,
        key: &Key,
        id: u64,
        fetched: Instant,
        ttl: Duration,
        r: Result<V, Error>,
    ) -> Outcome<V> {
        {
            let mut st = self.lock();
            if st.flights.get(key).is_some_and(|f| f.id == id) {
                st.flights.remove(key);
            }
        }
        match r {
            Ok(v) => {
                let v = Arc::new(v);
                self.store(key.clone(), v.clone(), fetched, ttl);
                Ok(v)
            }
            Err(e) => Err(Arc::new(e)),
        }
    }

    /// Always fetches; a success replaces the cached value.
    async fn refresh<Fut>(&self, key: Key, ttl: Duration, fetch: Fut) -> Result<Arc<V>, Error>
    where
        Fut: Future<Output = Result<V, Error>>,
    {
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let v = Arc::new(fetch.await?);
        self.store(key, v.clone(), started, ttl);
        Ok(v)
    }
}

/// The error of a shared flight, for one of its waiters: the error itself when this is
/// the last holder, else a copy with the same kind, target, status, request id, attempts
/// and retry hint, whose source is the original error's source.
fn unshare(e: Arc<Error>) -> Error {
    match Arc::try_unwrap(e) {
        Ok(e) => e,
        Err(shared) => {
            let mut c = Error::from_kind(shared.kind().clone())
                .with_retry_after(shared.retry_after())
                .with_attempts(shared.attempts());
            if let (Some(component), Some(api)) = (shared.component(), shared.api()) {
                c = c.with_target(component, api);
            }
            if let Some(status) = shared.http_status() {
                c = c.with_http(status, shared.request_id().map(str::to_owned));
            }
            if shared.is_permanent() {
                c = c.permanent();
            }
            if std::error::Error::source(&*shared).is_some() {
                c = c.with_source(SharedCause(shared));
            }
            c
        }
    }
}

/// The source of an error shared by several waiters: shows the original's source.
struct SharedCause(Arc<Error>);

impl SharedCause {
    fn cause(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

impl fmt::Display for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause() {
            Some(c) => fmt::Display::fmt(c, f),
            None => f.write_str("shared error"),
        }
    }
}

impl fmt::Debug for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause() {
            Some(c) => fmt::Debug::fmt(c, f),
            None => f.write_str("SharedCause"),
        }
    }
}

impl std::error::Error for SharedCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause().and_then(|c| c.source())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn key(n: u8) -> Key {
        Key {
            component: "cc",
            api: "search_classifications",
            digest: [n; 20],
        }
    }

    const LONG: Duration = Duration::from_secs(300);

    fn fill(store: &Store<u32>, keys: &[u8]) {
        for k in keys {
            store.store(key(*k), Arc::new(u32::from(*k)), Instant::now(), LONG);
        }
    }

    fn cached(store: &Store<u32>, k: u8) -> Option<u32> {
        store.lock().hit(&key(k), Instant::now()).map(|v| *v)
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let store = Store::<u32>::new(3);
        fill(&store, &[1, 2, 3]);
        // Using 1 makes 2 the least recently used.
        assert_eq!(cached(&store, 1), Some(1));
        fill(&store, &[4]);
        assert_eq!(store.lock().entries.len(), 3);
        assert_eq!(cached(&store, 2), None);
        assert_eq!(cached(&store, 1), Some(1));
        assert_eq!(cached(&store, 3), Some(3));
        assert_eq!(cached(&store, 4), Some(4));
        assert_eq!(store.stats().evictions, 1);
        // Order now (oldest first): 1, 3, 4; two more push out 1 and 3.
        fill(&store, &[5, 6]);
        assert_eq!(cached(&store, 1), None);
        assert_eq!(cached(&store, 3), None);
        assert_eq!(cached(&store, 4), Some(4));
        assert_eq!(store.stats().evictions, 3);
        let st = store.lock();
        assert_eq!(st.entries.len(), st.lru.len(), "index and entries agree");
    }

    #[test]
    fn replacing_a_key_does_not_evict_and_older_answers_lose() {
        let store = Store::<u32>::new(2);
        let early = Instant::now();
        fill(&store, &[1, 2]);
        store.store(key(1), Arc::new(10), Instant::now(), LONG);
        assert_eq!(store.stats().evictions, 0);
        assert_eq!(cached(&store, 1), Some(10));
        // An answer whose request started before the stored one does not replace it.
        store.store(key(1), Arc::new(99), early, LONG);
        assert_eq!(cached(&store, 1), Some(10));
        assert_eq!(cached(&store, 2), Some(2));
    }

    #[test]
    fn zero_capacity_and_zero_ttl_keep_nothing() {
        let store = Store::<u32>::new(0);
        fill(&store, &[1]);
        assert_eq!(cached(&store, 1), None);
        let store = Store::<u32>::new(5);
        store.store(key(1), Arc::new(1), Instant::now(), Duration::ZERO);
        assert_eq!(cached(&store, 1), None);
    }

    #[test]
    fn expired_entries_are_dropped_on_lookup() {
        let store = Store::<u32>::new(5);
        let long_ago = Instant::now() - Duration::from_secs(10);
        store.store(key(1), Arc::new(1), long_ago, Duration::from_secs(5));
        assert_eq!(store.lock().entries.len(), 1);
        assert_eq!(cached(&store, 1), None);
        let st = store.lock();
        assert!(st.entries.is_empty() && st.lru.is_empty());
    }

    #[tokio::test]
    async fn concurrent_identical_calls_share_one_fetch() {
        let store = Store::<u32>::new(10);
        let fetches = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let store = store.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .get_or_fetch(key(1), LONG, async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(7)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(*t.await.unwrap().unwrap(), 7);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        let s = store.stats();
        assert_eq!(s.misses, 1);
        assert_eq!(s.shared + s.hits, 15);
        assert!(store.lock().flights.is_empty());
    }

    #[tokio::test]
    async fn a_failed_flight_fails_every_waiter_and_is_not_cached() {
        let store = Store::<u32>::new(10);
        let fetches = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .get_or_fetch(key(1), LONG, async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err(Error::invalid_request("boom").with_target("cc", "x"))
                    })
                    .await
            }));
        }
        for t in tasks {
            let e = t.await.unwrap().unwrap_err();
            assert_eq!(e.to_string(), "cc.x failed: invalid request: boom");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(store.lock().entries.is_empty());
        let v = store
            .get_or_fetch(key(1), LONG, async { Ok(3) })
            .await
            .unwrap();
        assert_eq!(*v, 3);
    }

    #[tokio::test]
    async fn an_abandoned_flight_is_replaced() {
        let store = Store::<u32>::new(10);
        let slow = store.get_or_fetch(key(1), LONG, async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(1)
        });
        // Start it, then give up.
        assert!(tokio::time::timeout(Duration::from_millis(20), slow)
            .await
            .is_err());
        let v = tokio::time::timeout(
            Duration::from_secs(5),
            store.get_or_fetch(key(1), LONG, async { Ok(2) }),
        )
        .await
        .expect("not stuck behind the abandoned flight")
        .unwrap();
        assert_eq!(*v, 2);
    }

    #[tokio::test]
    async fn refresh_always_fetches_and_replaces() {
        let store = Store::<u32>::new(10);
        fill(&store, &[1]);
        let v = store.refresh(key(1), LONG, async { Ok(5) }).await.unwrap();
        assert_eq!(*v, 5);
        assert_eq!(cached(&store, 1), Some(5));
        let e = store
            .refresh(key(1), LONG, async { Err(Error::invalid_request("x")) })
            .await;
        assert!(e.is_err());
        assert_eq!(
            cached(&store, 1),
            Some(5),
            "an error keeps the cached answer"
        );
    }

    #[test]
    fn keys_separate_users_params_and_secrets() {
        use crate::config::ClientBuilder;
        let cache = Cache::new(10);
        let cfg = |user: &UserAuth, secret: &str| {
            ClientBuilder::new()
                .endpoint("http://paas.example.com")
                .app_code("app")
                .app_secret(secret)
                .user(user.clone())
                .build_config()
                .unwrap()
        };
        static META: ApiMeta = ApiMeta {
            component: "cc",
            name: "search_classifications",
            method: crate::Method::Post,
            path: "/api/c/compapi{bk_api_ver}/cc/search_classifications/",
            idempotent: true,
            sensitive: &[],
            cache_ttl_secs: Some(300),
        };
        let (alice_u, bob_u) = (
            UserAuth::BkUsername("alice".into()),
            UserAuth::BkUsername("bob".into()),
        );
        let alice = cfg(&alice_u, "s");
        let bob = cfg(&bob_u, "s");
        let alice_other_secret = cfg(&alice_u, "t");
        let key = |c: &Cache, cfg: &Config, p: &Value| c.key(cfg, cfg.user(), &META, p);
        let p1 = serde_json::json!({"a": 1, "b": [1, {"x": "y", "c": null}]});
        let p1_reordered = serde_json::json!({"b": [1, {"c": null, "x": "y"}], "a": 1});
        let p2 = serde_json::json!({"a": 2, "b": [1, {"x": "y", "c": null}]});
        let k = key(&cache, &alice, &p1);
        assert_eq!(k, key(&cache, &alice, &p1_reordered));
        assert_ne!(k, key(&cache, &alice, &p2));
        assert_ne!(k, key(&cache, &bob, &p1));
        assert_ne!(k, key(&cache, &alice_other_secret, &p1));
        // The user in force counts, not the configured one (credential providers).
        let token = UserAuth::BkToken("t0k3n".into());
        assert_ne!(k, cache.key(&alice, &token, &META, &p1));
        // Another cache digests with another key: digests say nothing across caches.
        assert_ne!(k, key(&Cache::new(10), &alice, &p1));
        // Nothing readable in the key.
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("alice") && !dbg.contains("\"x\""), "{dbg}");
        // Strings that concatenate alike do not collide.
        assert_ne!(
            key(&cache, &alice, &serde_json::json!(["ab", "c"])),
            key(&cache, &alice, &serde_json::json!(["a", "bc"]))
        );
    }
}
