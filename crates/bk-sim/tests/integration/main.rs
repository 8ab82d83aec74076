//! One test binary for the crate: every module below used to be its own binary, and
//! each linked the whole dependency tree again (slow links, gigabytes of target/).

mod protocol;
mod python_interop;
mod sdk_auth;
mod sdk_cache;
mod sdk_credentials;
mod sdk_faults;
mod sdk_flows;
mod sdk_gateway;
mod secrets_everywhere;
mod state_cc;
mod state_itsm;
mod state_job;
mod state_job_v2;
mod state_misc;
mod state_schema;
mod state_watch;
