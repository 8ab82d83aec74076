//! 10 000 calls with 20 % faults: every idempotent call succeeds, no job runs twice.

use bk_fault_matrix::{run_async, Settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_calls_with_twenty_percent_faults() {
    let mut settings = Settings::new(10_000, 0.2);
    settings.concurrency = 64;
    let r = run_async(&settings).await.unwrap();
    println!("{} ({:.1}s)", r.line(), r.elapsed.as_secs_f64());
    assert_eq!(r.calls, 10_000);
    assert_eq!(r.ok + r.failed, 10_000);
    assert_eq!(r.idempotent_failed, 0, "{r:?}");
    assert_eq!(r.duplicates, 0, "{r:?}");
    // Every failure says why: a code (or HTTP status) with its request_id, or no answer.
    assert_eq!(r.undiagnosable, 0, "{:#?}", r.failures_by_error);
    // Every kind the simulator offers was injected.
    assert!(r.faults_by_kind.len() >= 14, "{:?}", r.faults_by_kind);
    // The faults were really there, and really retried.
    assert!(r.faults > 1_500, "{r:?}");
    assert!(r.retries > 1_000, "{r:?}");
    // Every started job belongs to a logical call, at most once each.
    assert!(r.job_executions <= 3_334, "{r:?}");
}
