//! `check --bench-corpus N` (hidden): measures the check on N generated Deployments.
//!
//! The corpus is one multi-document YAML text in memory, shaped like `helm template` output: a Namespace, then
//! N Deployments of about 60 lines each, spread over four namespaces, with a class that is allowed, denied,
//! or absent. The measured step is what `check` does with a file once it is read: cut the text into
//! documents, parse them, write each CREATE request and decide it with the sdk, and build the results.
//! Printing is measured separately (JSON into memory). The check is single-threaded, so documents per second
//! is per core. CPU time comes from `/proc/self/schedstat` where available (Linux), and is what the
//! per-core figure uses: wall time also counts time the thread waited for the CPU on a busy machine.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Result;
use priority_guard_sdk::Settings;

use super::documents::Syntax;
use super::report::Summary;
use super::{Checker, Format, write_results};
use crate::labels::NamespaceLabels;

/// How many times the corpus is checked; the median run is reported.
const ROUNDS: usize = 3;

/// (namespace, class) of the i-th Deployment.
fn placement(i: usize) -> (&'static str, Option<&'static str>) {
    const PLACES: &[(&str, Option<&str>)] = &[
        ("prod", Some("prod-pc")),
        ("prod", None),
        ("shop-preprod", Some("preprod-pc")),
        ("shop-dev", Some("dev-pc")),
        ("shop-dev", None),
        ("prod", Some("dev-pc")),
        ("team-a", Some("system-node-critical")),
        ("shop-preprod", None),
    ];
    PLACES[i % PLACES.len()]
}

/// The corpus: a Namespace and `count` Deployments.
pub(crate) fn corpus(count: usize) -> String {
    let mut text = String::with_capacity(count * 1800);
    text.push_str(
        "# Source: shop/templates/namespace.yaml\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: \
         shop-preprod\n  labels:\n    env: preprod\n",
    );
    for i in 0..count {
        let (namespace, class) = placement(i);
        let class = class.map_or_else(String::new, |c| format!("      priorityClassName: {c}\n"));
        // Writing into a String cannot fail.
        let _ = write!(
            text,
            r#"---
# Source: shop/templates/deployment-{i}.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{i}
  namespace: {namespace}
  labels:
    app.kubernetes.io/name: web-{i}
    app.kubernetes.io/instance: shop
    app.kubernetes.io/version: "1.4.{i}"
    helm.sh/chart: shop-0.3.1
  annotations:
    deployment.kubernetes.io/revision: "3"
spec:
  replicas: 3
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: web-{i}
      app.kubernetes.io/instance: shop
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 25%, maxUnavailable: 0}}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: web-{i}
        app.kubernetes.io/instance: shop
      annotations:
        prometheus.io/scrape: "true"
    spec:
{class}      serviceAccountName: web
      securityContext: {{runAsNonRoot: true, fsGroup: 2000}}
      containers:
        - name: web
          image: "registry.example.com/shop/web:1.4.{i}"
          imagePullPolicy: IfNotPresent
          args: ["--port=8080", "--log-level=info"]
          ports:
            - {{name: http, containerPort: 8080, protocol: TCP}}
          env:
            - {{name: SHOP_MODE, value: production}}
            - name: SHOP_DB
              valueFrom:
                secretKeyRef: {{name: shop-db, key: url}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{memory: 256Mi}}
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 10
          volumeMounts:
            - {{name: cache, mountPath: /var/cache/web}}
      volumes:
        - name: cache
          emptyDir: {{}}
"#
        );
    }
    text
}

/// CPU time of this thread so far, when the system says.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

struct Round {
    wall: Duration,
    cpu: Option<Duration>,
    print_wall: Duration,
    summary: Summary,
}

fn round(settings: &Settings, namespace: &str, text: &str) -> Result<Round> {
    let labels = NamespaceLabels::default();
    let cpu_start = cpu_time();
    let start = Instant::now();
    let mut checker = Checker::new(settings, labels, namespace);
    checker.add_text("bench.yaml", text, Syntax::Yaml);
    let results = checker.finish();
    let wall = start.elapsed();
    let cpu = cpu_time().zip(cpu_start).map(|(end, start)| end - start);
    let summary = Summary::of(&results);
    let start = Instant::now();
    let mut sink = Vec::with_capacity(results.len() * 600);
    write_results(&mut sink, Format::Json, &results, false)?;
    let print_wall = start.elapsed();
    Ok(Round {
        wall,
        cpu,
        print_wall,
        summary,
    })
}

fn per_second(documents: usize, time: Duration) -> f64 {
    documents as f64 / time.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// Runs the benchmark and prints its figures; exits 0.
/// The corpus carries its own Namespace, so labels from the command line are not used.
pub(crate) fn run(settings: &Settings, namespace: &str, count: usize) -> Result<u8> {
    let text = corpus(count);
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        rounds.push(round(settings, namespace, &text)?);
    }
    rounds.sort_by_key(|r| r.cpu.unwrap_or(r.wall));
    let median = &rounds[ROUNDS / 2];
    let documents = median.summary.documents;
    println!(
        "corpus: {documents} documents ({count} Deployments and a Namespace), {:.1} MiB of YAML",
        text.len() as f64 / (1024.0 * 1024.0)
    );
    println!("results: {}", median.summary.line());
    println!(
        "check (cut, parse, decide), median of {ROUNDS} runs: wall {:.3} s = {:.0} documents/s",
        median.wall.as_secs_f64(),
        per_second(documents, median.wall)
    );
    match median.cpu {
        Some(cpu) => println!(
            "per core (single-threaded, CPU time {:.3} s): {:.0} documents/s",
            cpu.as_secs_f64(),
            per_second(documents, cpu)
        ),
        None => {
            println!("per core: CPU time not available; the wall figure above is single-threaded")
        }
    }
    println!(
        "json output into memory: {:.3} s = {:.0} documents/s",
        median.print_wall.as_secs_f64(),
        per_second(documents, median.print_wall)
    );
    Ok(0)
}
