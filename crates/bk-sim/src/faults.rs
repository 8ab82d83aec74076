//! Fault injection: what can go wrong between a client and the ESB, on demand.
//!
//! A [`FaultPlan`] is a list of [`FaultRule`]s, each a [`FaultKind`], a [`Target`] (every API,
//! a component, or one API) and a [`Trigger`] (always, a seeded rate, the next N calls, every
//! k-th call). For each routed call the rules are checked in order: every firing
//! [`FaultKind::Latency`] adds its delay, and the first other firing rule decides the fault.
//! Random draws come from one RNG seeded with [`FaultPlan::seed`], so one client's sequence
//! of calls sees the same faults on every run.
//!
//! Rules are written `[TARGET@]KIND[=ARG][:TRIGGER]` for the CLI ([`FaultRule::from_str`]):
//! `503:0.1`, `cc.*@reset-before:next3`, `latency=250ms:1`, `ratelimit=2:every5`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One kind of failure.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Wait this long before handling the call (then answer normally).
    Latency(Duration),
    /// Answer this HTTP status (500, 502, 503 or 504) with an API gateway error body and the
    /// `X-Bkapi-Error-*` headers. 500, 502 and 503 are answered without executing the call;
    /// 504 (backend timeout) executes it first, as a slow backend would.
    HttpStatus(u16),
    /// API gateway rate limit: HTTP 429, body code 1642901, `Retry-After` and the
    /// `X-Bkapi-RateLimit-*` headers. Not executed.
    GatewayRateLimit {
        /// `Retry-After` seconds.
        retry_after_secs: u64,
    },
    /// ESB envelope 1306201 (backend request failed), HTTP 200. Not executed.
    EsbBackendFailed,
    /// ESB envelope 1306429 (legacy rate limit), HTTP 200, no headers. Not executed.
    EsbRateLimited,
    /// CMDB envelope 1199997 (too many requests), HTTP 200. Not executed.
    CmdbTooManyRequests,
    /// Close the connection (TCP reset) before the call is processed: nothing is executed
    /// and no response is sent.
    ResetBeforeExecution,
    /// Execute the call, then close the connection (TCP reset) without a response.
    ResetAfterExecution,
    /// Execute the call, send the headers (with the full `Content-Length`) and half the body,
    /// then drop the connection.
    TruncatedBody,
    /// Answer HTTP 200 with an HTML page instead of JSON (a proxy or login page). Not
    /// executed.
    HtmlBody,
    /// Execute the call, send the headers at once, then the body in small chunks with this
    /// delay between them.
    SlowBody {
        /// Delay between chunks.
        chunk_delay: Duration,
    },
}

impl FaultKind {
    /// The stable name of the kind: the key of [`crate::Stats::faults`] and the `KIND` of the
    /// rule syntax.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Latency(_) => "latency",
            FaultKind::HttpStatus(500) => "http500",
            FaultKind::HttpStatus(502) => "http502",
            FaultKind::HttpStatus(503) => "http503",
            FaultKind::HttpStatus(504) => "http504",
            FaultKind::HttpStatus(_) => "http5xx",
            FaultKind::GatewayRateLimit { .. } => "ratelimit429",
            FaultKind::EsbBackendFailed => "esb1306201",
            FaultKind::EsbRateLimited => "esb1306429",
            FaultKind::CmdbTooManyRequests => "cmdb1199997",
            FaultKind::ResetBeforeExecution => "reset-before",
            FaultKind::ResetAfterExecution => "reset-after",
            FaultKind::TruncatedBody => "truncate",
            FaultKind::HtmlBody => "html",
            FaultKind::SlowBody { .. } => "slow-body",
        }
    }

    /// Whether a call that meets this fault still reaches the handler (and the state).
    pub fn executes(&self) -> bool {
        matches!(
            self,
            FaultKind::Latency(_)
                | FaultKind::HttpStatus(504)
                | FaultKind::ResetAfterExecution
                | FaultKind::TruncatedBody
                | FaultKind::SlowBody { .. }
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Latency(d) => write!(f, "latency={}ms", d.as_millis()),
            FaultKind::GatewayRateLimit { retry_after_secs } => {
                write!(f, "ratelimit429={retry_after_secs}")
            }
            FaultKind::SlowBody { chunk_delay } => {
                write!(f, "slow-body={}ms", chunk_delay.as_millis())
            }
            FaultKind::HttpStatus(s) => write!(f, "http{s}"),
            other => f.write_str(other.name()),
        }
    }
}

/// Which calls a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every API (`*`).
    All,
    /// Every API of a component (`cc.*`).
    Component(String),
    /// One API (`cc.search_business`).
    Api {
        /// Component name.
        component: String,
        /// API name.
        api: String,
    },
}

impl Target {
    /// Whether the rule applies to `component.api`.
    pub fn matches(&self, component: &str, api: &str) -> bool {
        match self {
            Target::All => true,
            Target::Component(c) => c == component,
            Target::Api {
                component: c,
                api: a,
            } => c == component && a == api,
        }
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "*" || s.is_empty() {
            return Ok(Target::All);
        }
        match s.split_once('.') {
            Some((c, "*")) if !c.is_empty() => Ok(Target::Component(c.to_string())),
            Some((c, a)) if !c.is_empty() && !a.is_empty() && !a.contains('.') => Ok(Target::Api {
                component: c.to_string(),
                api: a.to_string(),
            }),
            _ => Err(format!(
                "invalid fault target `{s}`: use `*`, `component.*` or `component.api`"
            )),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::All => f.write_str("*"),
            Target::Component(c) => write!(f, "{c}.*"),
            Target::Api { component, api } => write!(f, "{component}.{api}"),
        }
    }
}

/// When a rule fires, counted over the calls its target matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Every matching call.
    Always,
    /// With this probability (0..=1), drawn from the plan's seeded RNG.
    Rate(f64),
    /// The next N matching calls, then never again.
    NextN(u64),
    /// Every k-th matching call (the k-th, 2k-th, ...).
    EveryKth(u64),
}

impl FromStr for Trigger {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "always" {
            return Ok(Trigger::Always);
        }
        if let Some(n) = s.strip_prefix("next") {
            let n = n.trim_start_matches('=');
            return n
                .parse()
                .map(Trigger::NextN)
                .map_err(|_| format!("invalid trigger `{s}`: `nextN` wants an integer N"));
        }
        if let Some(k) = s.strip_prefix("every") {
            let k = k.trim_start_matches('=');
            return match k.parse::<u64>() {
                Ok(k) if k > 0 => Ok(Trigger::EveryKth(k)),
                _ => Err(format!(
                    "invalid trigger `{s}`: `everyK` wants an integer K > 0"
                )),
            };
        }
        match s.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(Trigger::Rate(r)),
            _ => Err(format!(
                "invalid trigger `{s}`: use a rate 0..1, `nextN`, `everyK` or `always`"
            )),
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Always => f.write_str("always"),
            Trigger::Rate(r) => write!(f, "{r}"),
            Trigger::NextN(n) => write!(f, "next{n}"),
            Trigger::EveryKth(k) => write!(f, "every{k}"),
        }
    }
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Which calls.
    pub target: Target,
    /// What happens.
    pub kind: FaultKind,
    /// When.
    pub trigger: Trigger,
}

impl FaultRule {
    /// A rule for every API.
    pub fn new(kind: FaultKind, trigger: Trigger) -> FaultRule {
        FaultRule {
            target: Target::All,
            kind,
            trigger,
        }
    }

    /// The same rule, for `target` only (`cc.*`, `cc.search_business`).
    ///
    /// # Panics
    /// When `target` is not `*`, `component.*` or `component.api` (a programming error in
    /// test code; parse user input with [`Target::from_str`]).
    pub fn on(mut self, target: &str) -> FaultRule {
        self.target = match target.parse() {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        self
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (s, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() && v * scale < 86_400_000.0 => {
            Ok(Duration::from_micros((v * scale * 1000.0) as u64))
        }
        _ => Err(format!(
            "invalid duration `{s}`: use milliseconds (`250`, `250ms`) or seconds (`2s`)"
        )),
    }
}

impl FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s, None),
        };
        let kind = match name {
            "latency" | "delay" => {
                let d = parse_duration(arg.ok_or("latency wants a duration: `latency=250ms`")?)?;
                FaultKind::Latency(d)
            }
            "http500" | "500" => FaultKind::HttpStatus(500),
            "http502" | "502" => FaultKind::HttpStatus(502),
            "http503" | "503" => FaultKind::HttpStatus(503),
            "http504" | "504" => FaultKind::HttpStatus(504),
            "ratelimit429" | "ratelimit" | "429" => FaultKind::GatewayRateLimit {
                retry_after_secs: match arg {
                    Some(a) => a
                        .parse()
                        .map_err(|_| format!("invalid Retry-After seconds `{a}`"))?,
                    None => 1,
                },
            },
            "esb1306201" | "esb-backend" | "1306201" => FaultKind::EsbBackendFailed,
            "esb1306429" | "esb-ratelimit" | "1306429" => FaultKind::EsbRateLimited,
            "cmdb1199997" | "cmdb-busy" | "1199997" => FaultKind::CmdbTooManyRequests,
            "reset-before" | "reset" => FaultKind::ResetBeforeExecution,
            "reset-after" => FaultKind::ResetAfterExecution,
            "truncate" | "truncated" => FaultKind::TruncatedBody,
            "html" => FaultKind::HtmlBody,
            "slow-body" | "slow" => FaultKind::SlowBody {
                chunk_delay: match arg {
                    Some(a) => parse_duration(a)?,
                    None => Duration::from_millis(50),
                },
            },
            other => {
                return Err(format!(
                    "unknown fault kind `{other}`: one of latency=MS, http500, http502, \
                     http503, http504, ratelimit429[=SECS], esb1306201, esb1306429, \
                     cmdb1199997, reset-before, reset-after, truncate, html, slow-body[=MS]"
                ))
            }
        };
        Ok(kind)
    }
}

impl FromStr for FaultRule {
    type Err = String;
    /// `[TARGET@]KIND[=ARG][:TRIGGER]`; the trigger defaults to `always`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (target, rest) = match s.split_once('@') {
            Some((t, r)) => (t.parse()?, r),
            None => (Target::All, s),
        };
        let (kind, trigger) = match rest.rsplit_once(':') {
            Some((k, t)) => (k.parse()?, t.parse()?),
            None => (rest.parse()?, Trigger::Always),
        };
        Ok(FaultRule {
            target,
            kind,
            trigger,
        })
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.target, self.kind, self.trigger)
    }
}

/// The faults to inject: rules, in order, and the seed of their random draws.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Seed of the RNG behind [`Trigger::Rate`].
    pub seed: u64,
    /// The rules, checked in order.
    pub rules: Vec<FaultRule>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            seed: 42,
            rules: Vec::new(),
        }
    }
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// This plan plus one rule.
    pub fn with(mut self, rule: FaultRule) -> FaultPlan {
        self.rules.push(rule);
        self
    }
}

/// What the engine decided for one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Decision {
    /// Added latency (sum of the firing latency rules).
    pub latency: Duration,
    /// The fault, if any.
    pub fault: Option<FaultKind>,
}

#[derive(Debug)]
struct RuleState {
    rule: FaultRule,
    matched: u64,
    fired: u64,
}

/// The live state of a plan: per-rule counters and the RNG.
#[derive(Debug)]
pub(crate) struct FaultEngine {
    rules: Vec<RuleState>,
    rng: StdRng,
}

impl FaultEngine {
    pub(crate) fn new(plan: FaultPlan) -> FaultEngine {
        FaultEngine {
            rng: StdRng::seed_from_u64(plan.seed),
            rules: plan
                .rules
                .into_iter()
                .map(|rule| RuleState {
                    rule,
                    matched: 0,
                    fired: 0,
                })
                .collect(),
        }
    }

    pub(crate) fn push(&mut self, rule: FaultRule) {
        self.rules.push(RuleState {
            rule,
            matched: 0,
            fired: 0,
        });
    }

    pub(crate) fn plan(&self, seed: u64) -> FaultPlan {
        FaultPlan {
            seed,
            rules: self.rules.iter().map(|r| r.rule.clone()).collect(),
        }
    }

    pub(crate) fn decide(&mut self, component: &str, api: &str) -> Decision {
        let mut d = Decision::default();
        for st in &mut self.rules {
            if !st.rule.target.matches(component, api) {
                continue;
            }
            let is_latency = matches!(st.rule.kind, FaultKind::Latency(_));
            if !is_latency && d.fault.is_some() {
                continue;
            }
            st.matched += 1;
            let fire = match &st.rule.trigger {
                Trigger::Always => true,
                Trigger::Rate(r) => self.rng.random::<f64>() < *r,
                Trigger::NextN(n) => st.fired < *n,
                Trigger::EveryKth(k) => *k > 0 && st.matched % *k == 0,
            };
            if !fire {
                continue;
            }
            st.fired += 1;
            match &st.rule.kind {
                FaultKind::Latency(l) => d.latency += *l,
                other => d.fault = Some(other.clone()),
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        let r: FaultRule = "503:0.25".parse().unwrap();
        assert_eq!(r.kind, FaultKind::HttpStatus(503));
        assert_eq!(r.trigger, Trigger::Rate(0.25));
        assert_eq!(r.target, Target::All);
        let r: FaultRule = "cc.*@reset-before:next3".parse().unwrap();
        assert_eq!(r.target, Target::Component("cc".into()));
        assert_eq!(r.trigger, Trigger::NextN(3));
        let r: FaultRule = "cc.search_business@latency=250ms:every2".parse().unwrap();
        assert_eq!(r.kind, FaultKind::Latency(Duration::from_millis(250)));
        assert_eq!(r.trigger, Trigger::EveryKth(2));
        let r: FaultRule = "ratelimit=3".parse().unwrap();
        assert_eq!(
            r.kind,
            FaultKind::GatewayRateLimit {
                retry_after_secs: 3
            }
        );
        assert_eq!(r.trigger, Trigger::Always);
        for bad in ["nope:1", "503:2", "503:every0", "a.b.c@503", "latency:1"] {
            assert!(bad.parse::<FaultRule>().is_err(), "{bad}");
        }
        let r: FaultRule = "cc.*@slow-body=20ms:0.5".parse().unwrap();
        assert_eq!(r.to_string().parse::<FaultRule>().unwrap(), r);
    }

    #[test]
    fn triggers() {
        let plan = FaultPlan::none()
            .with(FaultRule::new(FaultKind::HtmlBody, Trigger::NextN(2)).on("cc.*"))
            .with(FaultRule::new(
                FaultKind::EsbRateLimited,
                Trigger::EveryKth(3),
            ));
        let mut e = FaultEngine::new(plan);
        let got: Vec<Option<&'static str>> = (0..6)
            .map(|_| e.decide("cc", "x").fault.map(|f| f.name()))
            .collect();
        // the every-3rd rule only counts the calls the first rule left alone
        assert_eq!(
            got,
            vec![
                Some("html"),
                Some("html"),
                None,
                None,
                Some("esb1306429"),
                None
            ]
        );
        assert_eq!(e.decide("gse", "x").fault, None);
    }

    #[test]
    fn rate_is_seeded() {
        let plan = FaultPlan {
            seed: 7,
            rules: vec![FaultRule::new(
                FaultKind::HttpStatus(500),
                Trigger::Rate(0.3),
            )],
        };
        let run = |p: FaultPlan| {
            let mut e = FaultEngine::new(p);
            (0..1000)
                .map(|_| e.decide("a", "b").fault.is_some())
                .collect::<Vec<_>>()
        };
        let a = run(plan.clone());
        assert_eq!(a, run(plan));
        let n = a.iter().filter(|x| **x).count();
        assert!((220..380).contains(&n), "{n}");
    }
}
