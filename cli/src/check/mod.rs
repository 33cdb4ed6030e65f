//! `priority-guard check`: decides Kubernetes manifests the way the policy decides their CREATE, before they
//! reach a cluster (CI, pre-commit, `helm template | priority-guard check -`).
//!
//! The decision is the sdk's ([`priority_guard_sdk::output::manifest`] writes the CREATE request and calls the same
//! `decide` as policy.wasm). This module finds the files, cuts them into documents ([`documents`]), resolves
//! namespace labels ([`labels`]), and prints the results in one of four formats.
//!
//! Exit status: 0 when every document is allowed (or defaulted, or not checked), 1 when at least one is
//! denied, 2 when the settings or an input are unusable (an unreadable file or a malformed document; the
//! other documents are still checked and reported).

mod bench;
mod documents;
mod fast_yaml;
mod github;
mod json;
pub(crate) mod report;
mod sarif;
mod text;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use priority_guard_sdk::decide::{Labels, Lookups};
use priority_guard_sdk::output::manifest::{ManifestError, ManifestRequest, namespace_labels};
use priority_guard_sdk::{DecisionError, Outcome, Settings};
use serde_json::Value;

use crate::input;
use crate::labels::NamespaceLabels;
use documents::{Buffers, Item, Source, Syntax};
use fast_yaml::Header;
use report::{CheckResult, Summary};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One line per checked object, and a summary.
    Text,
    /// A JSON document with a `version` (see the README for its schema).
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// GitHub Actions workflow commands (`::error`, `::notice`), shown as annotations.
    Github,
}

/// Arguments of `priority-guard check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The policy settings, a YAML or JSON file (the same as the policy's).
    #[arg(short = 's', long, value_name = "FILE")]
    settings: PathBuf,

    /// The namespace of objects without `metadata.namespace`.
    #[arg(short = 'n', long, value_name = "NAMESPACE", default_value = "default")]
    namespace: String,

    /// Labels of the `--namespace` namespace, for `namespaceSelector` rules: `k=v,k2=v2`. Namespace objects in
    /// the input take precedence.
    #[arg(long, value_name = "K=V,...")]
    namespace_labels: Option<String>,

    /// Kubernetes objects (as for `run`, e.g. `kubectl get namespaces -o yaml`) whose Namespaces give the
    /// labels of namespaces that neither the input nor `--namespace-labels` describe.
    #[arg(long, value_name = "FILE")]
    cluster_state: Option<PathBuf>,

    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Also list the documents that are not checked (text format; json always lists them).
    #[arg(short = 'v', long)]
    verbose: bool,

    /// Exit with status 1 when a document is only warned about (the refusal of a rule whose `action` is `Warn`
    /// or `Audit`), as when one is denied.
    #[arg(long)]
    fail_on_warnings: bool,

    /// The file name reported for standard input (`-`).
    #[arg(long, value_name = "NAME", default_value = "<stdin>")]
    stdin_name: String,

    /// Measure the check on N generated Deployments instead of reading files, and print documents per second.
    #[arg(long, value_name = "N", hide = true, conflicts_with = "paths")]
    bench_corpus: Option<usize>,

    /// Files (YAML or JSON, any extension), directories (their `.yaml`, `.yml` and `.json` files,
    /// recursively) or `-` for standard input.
    #[arg(value_name = "PATH", required_unless_present = "bench_corpus")]
    paths: Vec<PathBuf>,
}

/// Exit status for unusable settings or input.
const UNUSABLE: u8 = 2;

/// Runs the command; every error is printed here, so the caller only exits with the status.
pub(crate) fn check(args: &CheckArgs) -> ExitCode {
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(UNUSABLE)
        }
    }
}

fn run(args: &CheckArgs) -> Result<u8> {
    let settings = load_settings(args)?;
    let labels = NamespaceLabels::from_args(
        &args.namespace,
        args.namespace_labels.as_deref(),
        args.cluster_state.as_deref(),
    )?;
    if let Some(count) = args.bench_corpus {
        return bench::run(&settings, &args.namespace, count);
    }
    let mut checker = Checker::new(&settings, labels, &args.namespace);
    for (name, text, syntax) in read_inputs(args, &mut checker)? {
        checker.add_text(&name, &text, syntax);
    }
    let results = checker.finish();
    let summary = Summary::of(&results);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_results(&mut out, args.format, &results, args.verbose)?;
    out.flush()?;
    Ok(summary.exit_code(args.fail_on_warnings))
}

fn load_settings(args: &CheckArgs) -> Result<Settings> {
    let value = input::read_json_or_yaml(&args.settings, "settings file")?;
    Settings::from_value(value)
        .with_context(|| format!("invalid settings in {}", args.settings.display()))
}

/// The name a file is reported under: as given, with `/` separators.
fn display_name(path: &std::path::Path) -> String {
    let name = path.to_string_lossy();
    let name = name.strip_prefix("./").unwrap_or(&name);
    if std::path::MAIN_SEPARATOR == '\\' {
        name.replace('\\', "/")
    } else {
        name.to_owned()
    }
}

/// Reads every input: files sorted by name (standard input last). Files that cannot be read are reported as
/// malformed documents on `checker`; a path that does not exist is too.
fn read_inputs(
    args: &CheckArgs,
    checker: &mut Checker<'_>,
) -> Result<Vec<(String, String, Syntax)>> {
    let mut sources = Vec::new();
    for path in &args.paths {
        if path.as_os_str() == "-" {
            sources.push(Source::Stdin);
        } else if let Err(error) = documents::expand(path, &mut sources) {
            checker.add_malformed(&display_name(path), 1, format!("{error:#}"));
        }
    }
    sources.sort();
    sources.dedup();
    let mut texts = Vec::with_capacity(sources.len());
    for source in sources {
        match source {
            Source::Stdin => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read standard input")?;
                let syntax = Syntax::of(None, &text);
                texts.push((args.stdin_name.clone(), text, syntax));
            }
            Source::File(path) => {
                let name = display_name(&path);
                match input::read_text(&path, "file") {
                    Ok(text) => {
                        let syntax = Syntax::of(Some(&path), &text);
                        texts.push((name, text, syntax));
                    }
                    Err(error) => checker.add_malformed(&name, 1, format!("{error:#}")),
                }
            }
        }
    }
    Ok(texts)
}

/// A document's result, or its decision so far when it depended on namespace labels that a Namespace object
/// later in the input may still change.
#[derive(Debug)]
enum Pending {
    Recheck {
        file: usize,
        line: usize,
        request: ManifestRequest,
        /// The namespace whose labels the decision read, and those labels: an index into [`Checker::asked`].
        asked: usize,
        decision: Result<Outcome, DecisionError>,
    },
    Done(CheckResult),
}

/// Collects documents, then decides them all.
#[derive(Debug)]
pub(crate) struct Checker<'s> {
    settings: &'s Settings,
    labels: NamespaceLabels,
    default_namespace: &'s str,
    files: Vec<String>,
    pending: Vec<Pending>,
    /// Each namespace whose labels a decision read, with the labels read, once (many documents share them);
    /// and where each namespace's entries are.
    asked: Vec<(String, Result<Labels, String>)>,
    asked_index: HashMap<String, Vec<usize>>,
    /// Reused from one document to the next: the readers' buffers, the header object given to the sdk, and a
    /// request text that is no longer needed.
    buffers: Buffers,
    head: String,
    spare: String,
}

impl<'s> Checker<'s> {
    pub(crate) fn new(
        settings: &'s Settings,
        labels: NamespaceLabels,
        default_namespace: &'s str,
    ) -> Self {
        Self {
            settings,
            labels,
            default_namespace,
            files: Vec::new(),
            pending: Vec::new(),
            asked: Vec::new(),
            asked_index: HashMap::new(),
            buffers: Buffers::default(),
            head: String::new(),
            spare: String::new(),
        }
    }

    fn add_malformed(&mut self, file: &str, line: usize, message: String) {
        self.pending
            .push(Pending::Done(CheckResult::malformed(file, line, message)));
    }

    /// Reads every document of one input.
    pub(crate) fn add_text(&mut self, name: &str, text: &str, syntax: Syntax) {
        let file = self.files.len();
        self.files.push(name.to_owned());
        let mut buffers = std::mem::take(&mut self.buffers);
        documents::each(text, syntax, &mut buffers, |line, item| match item {
            Item::Json { json, header } => self.add_json(file, line, json, header),
            Item::Error(message) => self.add_malformed(name, line, message),
        });
        self.buffers = buffers;
    }

    /// One document as JSON text. Pods and workloads go straight to the sdk as text; everything else (other
    /// kinds, Lists, Namespaces, documents that are no object) is parsed into a value and looked at closely.
    fn add_json(&mut self, file: usize, line: usize, json: &str, header: Option<&Header>) {
        if let Some(request) = header.and_then(|header| {
            request_from_header(
                json,
                header,
                self.default_namespace,
                &self.settings.custom_workloads,
                &mut self.head,
                &mut self.spare,
            )
        }) {
            self.add_request(file, line, Ok(request));
            return;
        }
        match ManifestRequest::from_json_with(
            json,
            self.default_namespace,
            &self.settings.custom_workloads,
        ) {
            Ok(request) if request.is_checked() => self.add_request(file, line, Ok(request)),
            _ => match serde_json::from_str::<Value>(json) {
                Ok(value) => self.add_value(file, line, value),
                Err(error) => {
                    let name = self.files[file].clone();
                    self.add_malformed(&name, line, error.to_string());
                }
            },
        }
    }

    fn add_not_kubernetes(&mut self, file: usize, line: usize) {
        self.pending.push(Pending::Done(CheckResult::not_checked(
            &self.files[file],
            line,
            None,
            "not a Kubernetes object (no apiVersion or kind)".to_owned(),
        )));
    }

    fn add_value(&mut self, file: usize, line: usize, value: Value) {
        match list_items(value) {
            Ok(Listed::One(object)) => self.add_object(file, line, &object),
            Ok(Listed::Items(items)) => {
                for item in items {
                    self.add_object(file, line, &item);
                }
            }
            Err(message) => {
                let name = self.files[file].clone();
                self.add_malformed(&name, line, message);
            }
        }
    }

    fn add_object(&mut self, file: usize, line: usize, object: &Value) {
        let name = &self.files[file];
        if !is_kubernetes_object(object) {
            self.add_not_kubernetes(file, line);
            return;
        }
        match namespace_labels(object) {
            Ok(Some((namespace, labels))) => self.labels.add_from_input(namespace, labels),
            Ok(None) => {}
            Err(error) => {
                let message = error.to_string();
                let name = name.clone();
                self.add_malformed(&name, line, message);
                return;
            }
        }
        let request = ManifestRequest::from_object_with(
            object,
            self.default_namespace,
            &self.settings.custom_workloads,
        );
        self.add_request(file, line, request);
    }

    fn add_request(
        &mut self,
        file: usize,
        line: usize,
        request: Result<ManifestRequest, ManifestError>,
    ) {
        let name = &self.files[file];
        let done = match request {
            Ok(request) if request.is_checked() => {
                // Decided now; kept for the end only when the namespace's labels were read.
                let (labels, known, index) = (&self.labels, &self.asked, &self.asked_index);
                // The index of what was read in `known`, else what was read.
                let mut asked = None;
                let decision = request.decide(
                    self.settings,
                    Lookups::new(
                        |ns| {
                            let found = labels.get(ns);
                            let entries = index.get(ns).map_or(&[][..], Vec::as_slice);
                            asked = Some(
                                entries
                                    .iter()
                                    .copied()
                                    .find(|&i| known[i].1 == found)
                                    .ok_or_else(|| (ns.to_owned(), found.clone())),
                            );
                            found
                        },
                        |class| labels.priority_class(class),
                    ),
                );
                let asked = asked.map(|found| {
                    found.unwrap_or_else(|(namespace, labels)| {
                        let at = self.asked.len();
                        self.asked_index
                            .entry(namespace.clone())
                            .or_default()
                            .push(at);
                        self.asked.push((namespace, labels));
                        at
                    })
                });
                self.pending.push(match asked {
                    None => {
                        let subject = request.subject.clone();
                        self.spare = request.into_object();
                        Pending::Done(CheckResult::decided(
                            name,
                            line,
                            subject,
                            decision,
                            self.settings,
                        ))
                    }
                    Some(asked) => Pending::Recheck {
                        file,
                        line,
                        request,
                        asked,
                        decision,
                    },
                });
                return;
            }
            Ok(request) => {
                let message = format!(
                    "{} {} is not a kind the policy checks",
                    request.subject.api_version, request.subject.kind
                );
                CheckResult::not_checked(name, line, Some(request.subject), message)
            }
            Err(error) => CheckResult::malformed(name, line, error.to_string()),
        };
        self.pending.push(Pending::Done(done));
    }

    /// The results, in the order the documents were read; decisions that read namespace labels are taken
    /// again if the input changed those labels after them.
    pub(crate) fn finish(self) -> Vec<CheckResult> {
        let Checker {
            settings,
            labels,
            files,
            pending,
            asked,
            ..
        } = self;
        let changed: Vec<bool> = asked
            .iter()
            .map(|(namespace, used)| labels.get(namespace) != *used)
            .collect();
        pending
            .into_iter()
            .map(|p| match p {
                Pending::Done(result) => result,
                Pending::Recheck {
                    file,
                    line,
                    request,
                    asked,
                    decision,
                } => {
                    let decision = if !changed[asked] {
                        decision
                    } else {
                        request.decide(
                            settings,
                            Lookups::new(|ns| labels.get(ns), |class| labels.priority_class(class)),
                        )
                    };
                    CheckResult::decided(&files[file], line, request.subject, decision, settings)
                }
            })
            .collect()
    }
}

/// The request of a document that the fast reader read, from its naming fields alone: what
/// [`ManifestRequest::from_json_with`] returns for the whole `json`, without the sdk reading the whole text to
/// find them. `None` when the sdk would not write a request for the object (it is not a kind it checks, or its
/// naming fields are wrong): the whole text is then read as usual.
///
/// The sdk is given an object of just those fields, `apiVersion`, `kind` and `metadata` (of a block mapping,
/// only its `name`, `generateName` and `namespace`), in `head`, then the whole object's text
/// ([`ManifestRequest::with_object`], written into the buffer of `spare`, which is taken).
fn request_from_header(
    json: &str,
    header: &Header,
    default_namespace: &str,
    custom: &[priority_guard_sdk::model::custom::CustomWorkload],
    head: &mut String,
    spare: &mut String,
) -> Option<ManifestRequest> {
    /// Adds `"key":value` to the object that `head` holds from `open` (its `{`), if there is a value.
    fn field(head: &mut String, open: usize, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            if head.len() > open + 1 {
                head.push(',');
            }
            head.push('"');
            head.push_str(key);
            head.push_str("\":");
            head.push_str(value);
        }
    }
    let text = |range: &Option<std::ops::Range<usize>>| range.clone().and_then(|r| json.get(r));
    head.clear();
    head.push('{');
    field(head, 0, "apiVersion", text(&header.api_version));
    field(head, 0, "kind", text(&header.kind));
    match &header.metadata_fields {
        // Only the fields the sdk reads: the rest of a block mapping need not be read again.
        Some(fields) => {
            field(head, 0, "metadata", Some("{"));
            let open = head.len() - 1;
            field(head, open, "name", text(&fields.name));
            field(head, open, "generateName", text(&fields.generate_name));
            field(head, open, "namespace", text(&fields.namespace));
            head.push('}');
        }
        None => field(head, 0, "metadata", text(&header.metadata)),
    }
    head.push('}');
    let request = ManifestRequest::from_json_with(head, default_namespace, custom).ok()?;
    if !request.is_checked() {
        return None;
    }
    let mut whole = std::mem::take(spare);
    whole.clear();
    whole.push_str(json);
    Some(request.with_object(whole))
}

/// A mapping with an `apiVersion` or a `kind`; anything else (a scalar, an array, a CI or tool configuration
/// file) is not a Kubernetes object and not checked.
fn is_kubernetes_object(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| o.contains_key("apiVersion") || o.contains_key("kind"))
}

enum Listed {
    One(Value),
    Items(Vec<Value>),
}

/// Expands a `List` (or `<Kind>List`) with `items` into its items. Items of a typed list that lack
/// `apiVersion`/`kind` (as the API returns them) get the list's apiVersion and kind without `List`.
fn list_items(value: Value) -> Result<Listed, String> {
    let Some(list_kind) = value
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| k.ends_with("List") && value.get("items").is_some())
        .map(str::to_owned)
    else {
        return Ok(Listed::One(value));
    };
    let implied = match list_kind.strip_suffix("List") {
        Some(kind) if !kind.is_empty() => value
            .get("apiVersion")
            .and_then(Value::as_str)
            .map(|v| (v.to_owned(), kind.to_owned())),
        _ => None,
    };
    let Value::Object(mut map) = value else {
        return Ok(Listed::Items(Vec::new()));
    };
    match map.remove("items") {
        Some(Value::Array(mut items)) => {
            if let Some((api_version, kind)) = implied {
                for item in &mut items {
                    if let Some(item) = item.as_object_mut() {
                        item.entry("apiVersion")
                            .or_insert_with(|| Value::String(api_version.clone()));
                        item.entry("kind")
                            .or_insert_with(|| Value::String(kind.clone()));
                    }
                }
            }
            Ok(Listed::Items(items))
        }
        Some(Value::Null) => Ok(Listed::Items(Vec::new())),
        _ => Err(format!("the items of the {list_kind} are not an array")),
    }
}

/// Writes `results` in `format`.
pub(crate) fn write_results(
    out: &mut dyn Write,
    format: Format,
    results: &[CheckResult],
    verbose: bool,
) -> Result<()> {
    let summary = Summary::of(results);
    match format {
        Format::Text => text::write(out, results, &summary, verbose),
        Format::Json => json::write(out, results, &summary),
        Format::Sarif => sarif::write(out, results),
        Format::Github => github::write(out, results, &summary),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use fast_yaml::Reader;

    /// The settings of `fixtures/custom-workloads`, whose custom kinds the sdk writes requests for too.
    fn custom_settings() -> Settings {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/custom-workloads/settings.yaml"
        );
        let value = input::read_json_or_yaml(std::path::Path::new(path), "settings").unwrap();
        Settings::from_value(value).unwrap()
    }

    /// The request written from the fast reader's header (if it writes one), and the sdk's from the whole text.
    fn both(
        piece: &str,
        settings: &Settings,
    ) -> (
        Option<ManifestRequest>,
        Result<ManifestRequest, ManifestError>,
    ) {
        let mut json = String::new();
        let header = Reader::default()
            .read(piece, &mut json)
            .unwrap_or_else(|| panic!("the fast reader gave up on {piece}"));
        let custom = &settings.custom_workloads;
        let whole = ManifestRequest::from_json_with(&json, "team", custom);
        let (mut head, mut spare) = (String::new(), "left over".to_owned());
        let fast = header.and_then(|header| {
            request_from_header(&json, &header, "team", custom, &mut head, &mut spare)
        });
        (fast, whole)
    }

    #[test]
    fn the_request_written_from_the_header_is_the_sdks_request_for_the_whole_object() {
        let settings = custom_settings();
        assert!(!settings.custom_workloads.is_empty());
        // (document, whether the header gives the request)
        let cases = [
            (
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: prod\nspec: {}\n",
                true,
            ),
            (
                "kind: Pod\napiVersion: v1\nspec:\n  containers: []\nmetadata:\n  name: a\n",
                true,
            ),
            (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  generateName: web-\n",
                true,
            ),
            (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ''\n  generateName: g-\n",
                true,
            ),
            (
                "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: c\n  namespace: \"\"\n",
                true,
            ),
            (
                "apiVersion: batch/v1\nkind: Job # a comment\nmetadata: # another\n  name: j\n",
                true,
            ),
            (
                "\"apiVersion\": 'v1'\n'kind': \"Pod\"\n\"metadata\":\n  \"name\": \"q\\\"x\"\n",
                true,
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: é✓\n  labels: {name: decoy}\n",
                true,
            ),
            (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels:\n    name: decoy\n    \
                 namespace: decoy\n  name: real\nspec:\n  template:\n    metadata:\n      name: decoy\n      \
                 namespace: decoy\nitems:\n  - kind: Pod\n    metadata: {name: decoy}\n",
                true,
            ),
            ("apiVersion: v1\nkind: Pod\n", true),
            (
                "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\n",
                true,
            ),
            // The sdk writes no request, or refuses the object: the whole text is read as usual.
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
                false,
            ),
            (
                "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n",
                false,
            ),
            ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: 5\n", false),
            (
                "apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: [a]\n",
                false,
            ),
            ("apiVersion: 1\nkind: Pod\n", false),
            ("apiVersion: v1\nkind: ''\n", false),
            ("kind: Pod\nmetadata:\n  name: a\n", false),
            ("apiVersion: v1\nkind:\n  name: Pod\n", false),
            // Metadata in other shapes (the sdk reads no name or namespace from those that are no mapping).
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: b}\n",
                true,
            ),
            ("apiVersion: v1\nkind: Pod\nmetadata:\n  - name: a\n", true),
            ("apiVersion: v1\nkind: Pod\nmetadata:\n", true),
            ("apiVersion: v1\nkind: Pod\nmetadata: x\n", true),
            // Not a mapping: no header.
            (
                "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: a\n",
                false,
            ),
        ];
        for (piece, taken) in cases {
            let (fast, whole) = both(piece, &settings);
            assert_eq!(fast.is_some(), taken, "{piece}");
            if let Some(fast) = fast {
                assert_eq!(Ok(fast), whole, "{piece}");
            }
        }
    }

    #[test]
    fn the_header_gives_the_request_of_every_rendered_workload() {
        let settings = custom_settings();
        let corpus = bench::corpus(40);
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/check-fixtures");
        let mut texts = vec![corpus];
        for file in [
            "manifests/helm-output.yaml",
            "manifests/nested/kustomize.yml",
            "exit/allowed.yaml",
            "exit/denied.yaml",
            "exit/preprod-no-namespace.yaml",
        ] {
            texts.push(std::fs::read_to_string(format!("{fixtures}/{file}")).unwrap());
        }
        let mut taken = 0;
        for text in &texts {
            for (_, piece) in documents::split_yaml(text) {
                if Reader::default().read(piece, &mut String::new()).is_none() {
                    continue;
                }
                let (fast, whole) = both(piece, &settings);
                match fast {
                    Some(fast) => {
                        taken += 1;
                        assert_eq!(Ok(fast), whole, "{piece}");
                    }
                    None => assert!(whole.is_err() || !whole.unwrap().is_checked(), "{piece}"),
                }
            }
        }
        assert!(taken >= 45, "the header gave only {taken} requests");
    }

    #[test]
    fn decisions_that_read_labels_a_later_namespace_changes_are_taken_again() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/prod-preprod-dev/settings.yaml"
        );
        let value = input::read_json_or_yaml(std::path::Path::new(path), "settings").unwrap();
        let settings = Settings::from_value(value).unwrap();
        let pod = |name: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  \
                 priorityClassName: preprod-pc\n  containers: []\n"
            )
        };
        let namespace = |env: &str| {
            format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    env: {env}\n"
            )
        };
        // Each Pod reads other labels of `shop` when it is added; the last Namespace decides for all.
        let text = [
            pod("a"),
            namespace("dev"),
            pod("b"),
            pod("c"),
            namespace("preprod"),
        ]
        .join("---\n");
        let mut checker = Checker::new(&settings, NamespaceLabels::default(), "default");
        checker.add_text("in.yaml", &text, Syntax::Yaml);
        assert_eq!(checker.asked.len(), 2, "{:?}", checker.asked);
        let results = checker.finish();
        let pods: Vec<_> = results.iter().filter(|r| r.rule.is_some()).collect();
        assert_eq!(pods.len(), 3, "{results:?}");
        for result in pods {
            assert_eq!(result.verdict, report::Verdict::Allowed, "{result:?}");
            assert_eq!(result.rule.as_deref(), Some("preproduction"), "{result:?}");
        }
    }
}
