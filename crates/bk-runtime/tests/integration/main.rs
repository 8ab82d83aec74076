//! One test binary for the crate: every module below used to be its own binary, and
//! each linked the whole dependency tree again (slow links, gigabytes of target/).

mod common;
mod errors;
mod gateway;
mod metrics;
mod retry;
mod secrets;
mod tracing_output;
mod transport;
mod wire;
