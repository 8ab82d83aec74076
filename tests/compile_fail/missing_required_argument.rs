//! Leaving out a required parameter is a compile error, not a runtime surprise.
use bk_sdk::prelude::*;

async fn call(client: bk_sdk::Client) {
    let _ = client.cc().list_biz_hosts_topo(2).send().await;
}

fn main() {
    let _ = call;
}
