//! One test binary for the crate: every module below used to be its own binary, and
//! each linked the whole dependency tree again (slow links, gigabytes of target/).

mod protocol;
mod python_interop;
mod sdk_auth;
mod sdk_faults;
mod sdk_flows;
mod state_cc;
mod state_itsm;
mod state_job;
mod state_misc;
mod state_schema;
mod state_watch;
