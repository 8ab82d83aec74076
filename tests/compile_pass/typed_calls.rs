//! The generated API as users write it: required parameters are arguments, optional ones
//! are builder methods, `send().await` gives the typed `data`.
use bk_sdk::cc::types::Page;
use bk_sdk::prelude::*;

async fn calls(client: bk_sdk::Client) -> Result<(), bk_sdk::Error> {
    let page = Page { start: Some(0), limit: 500, ..Default::default() };
    let hosts = client
        .cc()
        .list_biz_hosts_topo(2, page, vec!["bk_host_id".to_string()])
        .send()
        .await?;
    let _count: i64 = hosts.count;
    let user = client.bk_login().get_user().bk_username("admin").send().await?;
    let _name: String = user.bk_username;
    let _raw: serde_json::Value = client.call("cc", "search_business", serde_json::json!({})).await?;
    Ok(())
}

fn main() {
    let _ = calls;
}
