//! One test binary for the crate: every module below used to be its own binary, and
//! each linked the whole dependency tree again (slow links, gigabytes of target/).

mod cli_api;
mod cli_config;
mod cli_help;
mod common;
mod demo;
mod serve;
mod workflows;
