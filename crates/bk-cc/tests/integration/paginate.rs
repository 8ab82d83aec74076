//! Generated paginators against bk-sim: `.items()`, `.pages()`, `.concurrency(n)` and the
//! stop rules (last page by total, short page, empty page).

use std::time::Duration;

use bk_cc::operations::list_biz_hosts_topo::{ListBizHostsTopoResponse, META};
use bk_cc::types::{HostTopo, Page};
use bk_cc::CcExt;
use bk_runtime::pagination::{PageData, PageSpec, PageStyle, Paginator, StreamExt, TryStreamExt};
use bk_runtime::Client;
use bk_sim::{Sim, SimConfig, StateConfig};

fn start(hosts: usize) -> Sim {
    bk_sim::spawn(SimConfig {
        state: StateConfig {
            hosts,
            ..StateConfig::default()
        },
        ..SimConfig::default()
    })
    .expect("bk-sim starts")
}

fn client(sim: &Sim) -> Client {
    let h = sim.handle();
    Client::builder()
        .endpoint(sim.url())
        .app_code(h.app_code())
        .app_secret(h.app_secret())
        .user(bk_runtime::UserAuth::BkUsername("admin".into()))
        .request_timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

fn busiest_biz(sim: &Sim) -> (i64, Vec<i64>) {
    let st = sim.handle();
    let st = st.state();
    st.biz_ids()
        .into_iter()
        .map(|b| (b, st.biz_host_ids(b)))
        .max_by_key(|(_, h)| h.len())
        .expect("a business")
}

fn ids(hosts: &[HostTopo]) -> Vec<i64> {
    hosts
        .iter()
        .map(|h| h.host.bk_host_id.expect("host id"))
        .collect()
}

fn calls(sim: &Sim) -> u64 {
    sim.handle().stats().executions_of("cc.list_biz_hosts_topo")
}

#[tokio::test]
async fn items_walk_every_host_of_a_business_in_order() {
    let sim = start(3000);
    let c = client(&sim);
    let (biz, want) = busiest_biz(&sim);
    assert!(
        want.len() > 500,
        "a business with several pages: {}",
        want.len()
    );

    let all: Vec<HostTopo> = c
        .cc()
        .list_biz_hosts_topo(biz, Page::default(), vec![])
        .items()
        .try_collect()
        .await
        .expect("items");
    assert_eq!(ids(&all), want);
    // Pages of the spec's max (500); the total stops the walk without an extra call.
    assert_eq!(calls(&sim), want.len().div_ceil(500) as u64);

    sim.handle().reset_stats();
    let par: Vec<HostTopo> = c
        .cc()
        .list_biz_hosts_topo(biz, Page::default(), vec![])
        .concurrency(4)
        .page_size(100)
        .all()
        .await
        .expect("parallel items");
    assert_eq!(par, all, "concurrency keeps the order");
    assert_eq!(calls(&sim), want.len().div_ceil(100) as u64);
}

#[tokio::test]
async fn pages_start_where_the_request_says_and_respect_the_max() {
    let sim = start(1500);
    let c = client(&sim);
    let (biz, want) = busiest_biz(&sim);
    let first = Page {
        start: Some(10),
        limit: 7000, // over the max: clamped to 500, never sent
        ..Page::default()
    };
    let pages: Vec<_> = c
        .cc()
        .list_biz_hosts_topo(biz, first, vec!["bk_host_id".into()])
        .pages()
        .try_collect()
        .await
        .expect("pages");
    assert_eq!(pages[0].offset, 10);
    assert!(pages.iter().all(|p| p.size == 500 && p.items.len() <= 500));
    assert_eq!(pages[0].total, Some(want.len() as u64));
    let got: Vec<i64> = pages.iter().flat_map(|p| ids(&p.items)).collect();
    assert_eq!(got, want[10..]);
}

static NO_TOTAL: PageSpec = PageSpec {
    style: PageStyle::StartLimit,
    param: "page",
    max_limit: Some(500),
    items: "info",
    total: None,
};

fn without_total(r: ListBizHostsTopoResponse) -> PageData<HostTopo> {
    PageData::new(r.info, None)
}

#[tokio::test]
async fn without_a_total_short_and_empty_pages_end_the_walk() {
    let sim = start(1500);
    let c = client(&sim);
    let (biz, want) = busiest_biz(&sim);
    let req = c.cc().list_biz_hosts_topo(biz, Page::default(), vec![]);
    let n = want.len();

    // A size that divides the count: the last page is full, the next one empty (not yielded).
    let size = (1..=500u32)
        .rev()
        .find(|s| n % *s as usize == 0 && n / (*s as usize) >= 2)
        .unwrap();
    sim.handle().reset_stats();
    let pages: Vec<_> = Paginator::new(c.clone(), &META, &NO_TOTAL, req.request(), without_total)
        .page_size(size)
        .pages()
        .try_collect()
        .await
        .expect("pages");
    assert_eq!(pages.len(), n / size as usize);
    assert!(pages.iter().all(|p| !p.items.is_empty()));
    assert_eq!(
        calls(&sim),
        (n / size as usize + 1) as u64,
        "one empty page ends it"
    );

    // A size that does not: the short last page ends it.
    let size = (2..=500u32).rev().find(|s| n % *s as usize != 0).unwrap();
    sim.handle().reset_stats();
    let items: Vec<HostTopo> =
        Paginator::new(c.clone(), &META, &NO_TOTAL, req.request(), without_total)
            .page_size(size)
            .concurrency(4) // no total: stays sequential
            .all()
            .await
            .expect("items");
    assert_eq!(ids(&items), want);
    assert_eq!(calls(&sim), n.div_ceil(size as usize) as u64);

    // Past the end: one empty page, nothing yielded.
    let past = Page {
        start: Some(n as i64 + 5),
        limit: 50,
        ..Page::default()
    };
    let none: Vec<_> = c
        .cc()
        .list_biz_hosts_topo(biz, past, vec![])
        .pages()
        .collect()
        .await;
    assert!(none.is_empty());
}
