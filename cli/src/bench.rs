//! `priority-guard bench`: how fast any Kubewarden waPC policy answers `validate` under the same host as
//! `run`, how big it is and how much memory an instance holds.
//!
//! The module is compiled once. For each request file the payload Kubewarden sends
//! (`{"request": ..., "settings": ...}`) is built once, then `validate` is called with one reused instance
//! ("hot"), and, with `--instance-per-request`, with a fresh instance per request taken from wasmtime's
//! pooling allocator, as a server that isolates requests does: timed to the answer (instantiation and
//! `validate`) and to the instance's drop. Each measurement is preceded by a warm-up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use priority_guard_host::{
    ClusterState, HostOptions, PolicyInstance, PolicyModule, ValidationResponse,
    admission_request_from_json,
};
use serde_json::{Value, json};

use crate::input;

/// Slots of the instance pool: the bench holds at most two instances at once.
const POOL_SLOTS: u32 = 4;

/// Arguments of `priority-guard bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// The policy settings, a YAML or JSON file (default: `{}`).
    #[arg(short = 's', long, value_name = "FILE")]
    settings: Option<PathBuf>,

    /// A directory of AdmissionReview or AdmissionRequest files (`.json`, `.yaml`, `.yml`), or one such file.
    #[arg(
        short = 'r',
        long,
        value_name = "DIR",
        default_value = "fixtures/bench/requests"
    )]
    requests: PathBuf,

    /// Timed calls per request file and mode (after a warm-up of a tenth as many).
    #[arg(short = 'n', long, value_name = "N", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,

    /// Also measure a fresh instance per request (instantiation from the pool, `validate`, drop).
    #[arg(long)]
    instance_per_request: bool,

    /// The policy: a Kubewarden waPC module.
    #[arg(value_name = "POLICY.wasm")]
    policy: PathBuf,
}

/// Percentiles of a set of durations.
#[derive(Debug, Clone, Copy)]
struct Spread {
    p50: Duration,
    p99: Duration,
}

impl Spread {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |percent: usize| {
            let rank = (samples.len() * percent).div_ceil(100).max(1);
            samples[rank - 1]
        };
        Self {
            p50: at(50),
            p99: at(99),
        }
    }
}

/// CPU time of this thread so far (Linux `/proc/thread-self/schedstat`), when the system says: on a busy
/// machine, wall-clock percentiles also count the time the thread waited for a core; the mean CPU time per
/// call does not.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The mean CPU time per call between two readings of [`cpu_time`], as text (empty when unknown).
fn cpu_per_call(start: Option<Duration>, calls: usize) -> String {
    match (start, cpu_time()) {
        (Some(start), Some(end)) => {
            let calls = u32::try_from(calls).unwrap_or(u32::MAX).max(1);
            format!("; CPU {} per call", micros((end - start) / calls))
        }
        _ => String::new(),
    }
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn kib(bytes: usize) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

/// The request files: the file itself, or the JSON and YAML files of the directory, sorted by name.
fn request_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read the request directory {}", path.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no request files (.json, .yaml) in {}", path.display());
    }
    Ok(files)
}

fn outcome(answer: &[u8]) -> Result<String> {
    let answer: ValidationResponse = serde_json::from_slice(answer)
        .context("the policy's answer is not a ValidationResponse")?;
    Ok(match (answer.accepted, answer.mutated_object.is_some()) {
        (true, true) => "mutated".to_owned(),
        (true, false) => "accepted".to_owned(),
        (false, _) => format!("rejected ({})", answer.code.unwrap_or_default()),
    })
}

fn validate(policy: &PolicyInstance, payload: &[u8]) -> Result<Vec<u8>> {
    Ok(policy.call("validate", payload)?)
}

/// Runs the command.
pub(crate) fn bench(args: &BenchArgs) -> Result<()> {
    let wasm = input::read_bytes(&args.policy, "policy")?;
    let settings = match &args.settings {
        Some(path) => input::read_json_or_yaml(path, "settings file")?,
        None => Value::Null,
    };
    let settings = if settings.is_null() {
        json!({})
    } else {
        settings
    };
    let files = request_files(&args.requests)?;
    let iterations = args.iterations as usize;
    let warm_up = (iterations / 10).max(1);

    let options = HostOptions {
        allow_mutations: Some(true),
        instance_pool: Some(POOL_SLOTS),
        ..HostOptions::default()
    };
    let started = Instant::now();
    let module = PolicyModule::from_bytes(&wasm, options)
        .with_context(|| format!("cannot load the policy {}", args.policy.display()))?;
    let compiled = started.elapsed();
    let cluster = Arc::new(ClusterState::disconnected());
    let hot = module.instance(Arc::clone(&cluster))?;
    let verdict = hot.validate_settings(&settings)?;
    if !verdict.valid {
        bail!(
            "Provided settings are not valid: {}",
            verdict.message.unwrap_or_default()
        );
    }

    println!(
        "policy: {} ({} bytes), compiled in {:.0} ms; instance memory after initialization: {}",
        args.policy.display(),
        wasm.len(),
        compiled.as_secs_f64() * 1e3,
        kib(hot.memory_bytes()),
    );
    println!(
        "{iterations} timed calls per request and mode after {warm_up} warm-up calls; percentiles p50 / p99"
    );

    for file in files {
        let name = file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let request = input::read_json_or_yaml(&file, "request file")?;
        let request = admission_request_from_json(request)
            .with_context(|| format!("cannot use the request file {}", file.display()))?;
        let payload = serde_json::to_vec(&json!({"request": request, "settings": settings}))?;
        let object_bytes = request.get("object").map_or(0, |o| o.to_string().len());
        let verdict = outcome(&validate(&hot, &payload)?)?;

        for _ in 0..warm_up {
            validate(&hot, &payload)?;
        }
        let mut samples = Vec::with_capacity(iterations);
        let cpu = cpu_time();
        for _ in 0..iterations {
            let t = Instant::now();
            validate(&hot, &payload)?;
            samples.push(t.elapsed());
        }
        let hot_cpu = cpu_per_call(cpu, iterations);
        let hot_spread = Spread::of(samples);
        println!(
            "{name}: object {object_bytes} bytes, {verdict}\n  hot validate      {} / {}{hot_cpu}; instance memory {}",
            micros(hot_spread.p50),
            micros(hot_spread.p99),
            kib(hot.memory_bytes()),
        );

        if args.instance_per_request {
            // Timed: until the answer (instantiation and `validate`, what a request waits for), and until
            // the instance is gone (its slot reset for the next one, which a server does after answering).
            let fresh = |timed: bool| -> Result<(Duration, Duration, Duration, usize)> {
                let t = Instant::now();
                let policy = module.instance(Arc::clone(&cluster))?;
                let instantiated = t.elapsed();
                validate(&policy, &payload)?;
                let answered = t.elapsed();
                let memory = if timed { policy.memory_bytes() } else { 0 };
                drop(policy);
                Ok((instantiated, answered, t.elapsed(), memory))
            };
            for _ in 0..warm_up {
                fresh(false)?;
            }
            let mut answers = Vec::with_capacity(iterations);
            let mut totals = Vec::with_capacity(iterations);
            let mut instantiations = Vec::with_capacity(iterations);
            let mut memory = 0;
            let cpu = cpu_time();
            for _ in 0..iterations {
                let (instantiated, answered, total, bytes) = fresh(true)?;
                instantiations.push(instantiated);
                answers.push(answered);
                totals.push(total);
                memory = memory.max(bytes);
            }
            let fresh_cpu = cpu_per_call(cpu, iterations);
            let answer = Spread::of(answers);
            let total = Spread::of(totals);
            let instantiation = Spread::of(instantiations);
            println!(
                "  fresh instance    {} / {} to the answer (instantiation {} / {}); {} / {} with the drop{fresh_cpu}; instance memory {}",
                micros(answer.p50),
                micros(answer.p99),
                micros(instantiation.p50),
                micros(instantiation.p99),
                micros(total.p50),
                micros(total.p99),
                kib(memory),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_ranked_sample() {
        let samples: Vec<Duration> = (1..=200).rev().map(Duration::from_micros).collect();
        let spread = Spread::of(samples);
        assert_eq!(spread.p50, Duration::from_micros(100));
        assert_eq!(spread.p99, Duration::from_micros(198));
        let one = Spread::of(vec![Duration::from_micros(7)]);
        assert_eq!(
            (one.p50, one.p99),
            (Duration::from_micros(7), Duration::from_micros(7))
        );
    }
}
