//! `priority-guard scaffold artifacthub`: the Artifact Hub package metadata (`artifacthub-pkg.yml`) of a
//! Kubewarden policy, from its `metadata.yml`, with the fields `kwctl scaffold artifacthub` writes.
//!
//! Every value comes from the metadata: the annotations (`io.kubewarden.policy.*`, `io.artifacthub.*`), `rules`,
//! `mutating` and `contextAwareResources`. The one thing the metadata does not say, when the package was
//! created, is an argument, so the output is the same on every run and a test can tell a stale file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use priority_guard_host::PolicyMetadata;
use serde::Serialize;
use serde_json::Value;

use crate::input;

const TITLE: &str = "io.kubewarden.policy.title";
const VERSION: &str = "io.kubewarden.policy.version";
const DESCRIPTION: &str = "io.kubewarden.policy.description";
const AUTHOR: &str = "io.kubewarden.policy.author";
const URL: &str = "io.kubewarden.policy.url";
const SOURCE: &str = "io.kubewarden.policy.source";
const LICENSE: &str = "io.kubewarden.policy.license";
const OCI_URL: &str = "io.kubewarden.policy.ociUrl";
const DISPLAY_NAME: &str = "io.artifacthub.displayName";
const KEYWORDS: &str = "io.artifacthub.keywords";
const RESOURCES: &str = "io.artifacthub.resources";

/// The first lines of the file: what it is and how it is made.
const HEADER: &str = "\
# Artifact Hub package of the policy, generated from metadata.yml by `priority-guard scaffold artifacthub`
# (`make artifacthub-pkg.yml`). Do not edit: a test fails when this file differs from what metadata.yml gives.
";

/// Arguments of `priority-guard scaffold artifacthub`.
#[derive(Debug, clap::Args)]
pub(crate) struct ArtifacthubArgs {
    /// The policy metadata.
    #[arg(short = 'm', long = "metadata-path", value_name = "FILE")]
    metadata_path: PathBuf,

    /// When the package version was created (RFC 3339, e.g. 2026-11-23T00:00:00Z): the release date, not the
    /// time of the run, so that the file is the same every time it is generated.
    #[arg(long = "created-at", value_name = "TIME")]
    created_at: String,

    /// A file of Kubewarden UI questions, stored as the `kubewarden/questions-ui` annotation.
    #[arg(long = "questions-path", value_name = "FILE")]
    questions_path: Option<PathBuf>,

    /// Where to write the package; standard output without it.
    #[arg(short = 'o', long = "output-path", value_name = "FILE")]
    output_path: Option<PathBuf>,
}

/// `artifacthub-pkg.yml`, in the order kwctl writes its fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    version: String,
    name: String,
    display_name: String,
    created_at: String,
    description: String,
    license: String,
    #[serde(rename = "homeURL")]
    home_url: String,
    containers_images: Vec<ContainerImage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keywords: Vec<String>,
    links: Vec<Link>,
    install: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    maintainers: Vec<Maintainer>,
    provider: Provider,
    recommendations: Vec<Recommendation>,
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct ContainerImage {
    name: &'static str,
    image: String,
}

#[derive(Debug, Serialize)]
struct Link {
    name: &'static str,
    url: String,
}

#[derive(Debug, Serialize)]
struct Maintainer {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

#[derive(Debug, Serialize)]
struct Provider {
    name: &'static str,
}

#[derive(Debug, Serialize)]
struct Recommendation {
    url: &'static str,
}

/// Kubewarden itself, recommended with every policy.
const KUBEWARDEN_CONTROLLER: &str =
    "https://artifacthub.io/packages/helm/kubewarden/kubewarden-controller";

/// Whether `text` is an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`.
fn is_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| bytes.get(i) == Some(&c);
    if !(digits(0..4) && at(4, b'-') && digits(5..7) && at(7, b'-') && digits(8..10))
        || !(at(10, b'T') || at(10, b't'))
        || !(digits(11..13) && at(13, b':') && digits(14..16) && at(16, b':') && digits(17..19))
    {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end == 0 {
            return false;
        }
        rest = &fraction[end..];
    }
    let offset = rest.as_bytes();
    rest == "Z"
        || rest == "z"
        || (offset.len() == 6
            && matches!(offset[0], b'+' | b'-')
            && offset[1..3].iter().all(u8::is_ascii_digit)
            && offset[3] == b':'
            && offset[4..6].iter().all(u8::is_ascii_digit))
}

/// Whether `text` is a semantic version (`MAJOR.MINOR.PATCH`, optionally `-pre` and `+build`).
fn is_semver(text: &str) -> bool {
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let number = |p: &str| {
        !p.is_empty()
            && p.bytes().all(|c| c.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| number(p))
        && pre.is_none_or(label)
        && build.is_none_or(label)
}

/// A comma-separated annotation as a list (`a, b` -> [`a`, `b`]).
fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `Name <email>, Other` -> maintainers.
fn maintainers(author: &str) -> Vec<Maintainer> {
    comma_list(author)
        .into_iter()
        .map(|entry| match entry.split_once('<') {
            Some((name, email)) if email.ends_with('>') => Maintainer {
                name: name.trim().to_owned(),
                email: Some(email.trim_end_matches('>').trim().to_owned()),
            },
            _ => Maintainer {
                name: entry,
                email: None,
            },
        })
        .collect()
}

/// A list of the metadata as the block of YAML Artifact Hub shows. Typed values keep their field order; a
/// `serde_json::Value` would not (its key order depends on whether some crate in the build enables
/// serde_json's `preserve_order`).
fn yaml_block(value: &impl serde::Serialize) -> Result<String> {
    serde_yaml_ng::to_string(value).context("cannot write YAML")
}

/// An admission rule of the metadata, in the order `kwctl` writes its fields.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    api_groups: Vec<String>,
    api_versions: Vec<String>,
    resources: Vec<String>,
    operations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// The package for `metadata`, created at `created_at`, with the UI questions if any.
fn package(
    metadata: &PolicyMetadata,
    created_at: &str,
    questions: Option<String>,
) -> Result<Package> {
    if !is_rfc3339(created_at) {
        bail!("--created-at {created_at:?} is not an RFC 3339 time such as 2026-11-23T00:00:00Z");
    }
    let Some(Value::Object(annotations)) = &metadata.annotations else {
        bail!(
            "the metadata has no annotations: Artifact Hub needs at least {TITLE}, {VERSION} and {OCI_URL}"
        );
    };
    let optional = |key: &str| -> Result<Option<&str>> {
        match annotations.get(key) {
            None => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.trim())),
            Some(_) => bail!("annotations.{key} is not a string"),
        }
    };
    let required = |key: &str| -> Result<&str> {
        optional(key)?
            .with_context(|| format!("annotations.{key} is missing: Artifact Hub needs it"))
    };
    let version = required(VERSION)?;
    if !is_semver(version) {
        bail!("annotations.{VERSION} {version:?} is not a semantic version (e.g. 1.2.3)");
    }
    let name = required(TITLE)?;
    let source = required(SOURCE)?.trim_end_matches('/');
    let oci_url = required(OCI_URL)?;
    let image = format!("{oci_url}:v{version}");

    let Some(rules) = &metadata.rules else {
        bail!("the metadata has no rules");
    };
    let rules: Vec<Rule> = serde_json::from_value(rules.clone())
        .context("the metadata's rules are not a list of admission rules")?;
    let mut package_annotations = BTreeMap::from([
        (
            "kubewarden/mutation".to_owned(),
            metadata.mutating.to_string(),
        ),
        ("kubewarden/rules".to_owned(), yaml_block(&rules)?),
    ]);
    if !metadata.context_aware_resources.is_empty() {
        package_annotations.insert(
            "kubewarden/contextAwareResources".to_owned(),
            yaml_block(&metadata.context_aware_resources)?,
        );
    }
    if let Some(resources) = optional(RESOURCES)? {
        package_annotations.insert("kubewarden/resources".to_owned(), resources.to_owned());
    }
    if let Some(questions) = questions {
        package_annotations.insert("kubewarden/questions-ui".to_owned(), questions);
    }

    Ok(Package {
        version: version.to_owned(),
        name: name.to_owned(),
        display_name: optional(DISPLAY_NAME)?.unwrap_or(name).to_owned(),
        created_at: created_at.to_owned(),
        description: required(DESCRIPTION)?.to_owned(),
        license: required(LICENSE)?.to_owned(),
        home_url: optional(URL)?.unwrap_or(source).to_owned(),
        containers_images: vec![ContainerImage {
            name: "policy",
            image: image.clone(),
        }],
        keywords: optional(KEYWORDS)?.map(comma_list).unwrap_or_default(),
        links: vec![
            Link {
                name: "policy",
                url: format!("{source}/releases/download/v{version}/policy.wasm"),
            },
            Link {
                name: "source",
                url: source.to_owned(),
            },
        ],
        install: format!(
            "The policy can be obtained using [`kwctl`](https://github.com/kubewarden/kwctl):\n\
             ```console\nkwctl pull {image}\n```\n"
        ),
        maintainers: optional(AUTHOR)?.map(maintainers).unwrap_or_default(),
        provider: Provider { name: "kubewarden" },
        recommendations: vec![Recommendation {
            url: KUBEWARDEN_CONTROLLER,
        }],
        annotations: package_annotations,
    })
}

/// The file's text for `metadata`.
fn render(
    metadata: &PolicyMetadata,
    created_at: &str,
    questions: Option<String>,
) -> Result<String> {
    let package = package(metadata, created_at, questions)?;
    let body = serde_yaml_ng::to_string(&package).context("cannot write the package as YAML")?;
    Ok(format!("{HEADER}{body}"))
}

/// Runs the command.
pub(crate) fn artifacthub(args: &ArtifacthubArgs) -> Result<()> {
    let text = input::read_text(&args.metadata_path, "metadata file")?;
    let metadata = PolicyMetadata::from_yaml(&text)
        .with_context(|| format!("invalid metadata file {}", args.metadata_path.display()))?;
    let questions = args
        .questions_path
        .as_deref()
        .map(|path| input::read_text(path, "questions file"))
        .transpose()?;
    let out = render(&metadata, &args.created_at, questions)
        .with_context(|| format!("cannot scaffold from {}", args.metadata_path.display()))?;
    match &args.output_path {
        Some(path) => {
            std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            print!("{out}");
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    const METADATA: &str = r#"
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    operations: ["CREATE"]
mutating: false
annotations:
  io.kubewarden.policy.title: demo
  io.kubewarden.policy.version: 1.2.3
  io.kubewarden.policy.description: A demo
  io.kubewarden.policy.author: Ada <ada@example.com>, Bob
  io.kubewarden.policy.source: https://example.com/demo/
  io.kubewarden.policy.license: MIT
  io.kubewarden.policy.ociUrl: registry.example/demo
  io.artifacthub.keywords: a, b c ,d
"#;

    fn metadata(text: &str) -> PolicyMetadata {
        PolicyMetadata::from_yaml(text).unwrap()
    }

    fn generated(text: &str) -> serde_json::Value {
        let out = render(&metadata(text), "2026-01-02T03:04:05Z", None).unwrap();
        serde_yaml_ng::from_str(&out).unwrap()
    }

    #[test]
    fn fields_come_from_the_metadata() {
        let pkg = generated(METADATA);
        assert_eq!(pkg["version"], "1.2.3");
        assert_eq!(pkg["name"], "demo");
        assert_eq!(
            pkg["displayName"], "demo",
            "the title without a display name"
        );
        assert_eq!(pkg["createdAt"], "2026-01-02T03:04:05Z");
        assert_eq!(
            pkg["homeURL"], "https://example.com/demo",
            "the source without a url"
        );
        assert_eq!(pkg["license"], "MIT");
        assert_eq!(
            pkg["containersImages"][0]["image"],
            "registry.example/demo:v1.2.3"
        );
        assert_eq!(pkg["keywords"], serde_json::json!(["a", "b c", "d"]));
        assert_eq!(
            pkg["links"][0]["url"],
            "https://example.com/demo/releases/download/v1.2.3/policy.wasm"
        );
        assert_eq!(
            pkg["maintainers"],
            serde_json::json!([{"name": "Ada", "email": "ada@example.com"}, {"name": "Bob"}])
        );
        assert_eq!(pkg["annotations"]["kubewarden/mutation"], "false");
        assert!(
            pkg["annotations"]
                .get("kubewarden/contextAwareResources")
                .is_none()
        );
        let rules: serde_json::Value =
            serde_yaml_ng::from_str(pkg["annotations"]["kubewarden/rules"].as_str().unwrap())
                .unwrap();
        assert_eq!(rules, metadata(METADATA).rules.unwrap());
        assert!(
            pkg["install"]
                .as_str()
                .unwrap()
                .contains("kwctl pull registry.example/demo:v1.2.3")
        );
    }

    #[test]
    fn the_output_does_not_depend_on_the_run() {
        let a = render(&metadata(METADATA), "2026-01-02T03:04:05Z", None).unwrap();
        let b = render(&metadata(METADATA), "2026-01-02T03:04:05Z", None).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn refuses_what_artifact_hub_cannot_take() {
        let without = |key: &str| {
            METADATA
                .lines()
                .filter(|l| !l.contains(key))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let cases = [
            (
                without("ociUrl"),
                "2026-01-02T03:04:05Z",
                "ociUrl is missing",
            ),
            (
                without("policy.version"),
                "2026-01-02T03:04:05Z",
                "version is missing",
            ),
            (
                METADATA.replace("1.2.3", "v1.2"),
                "2026-01-02T03:04:05Z",
                "semantic version",
            ),
            (METADATA.to_owned(), "yesterday", "RFC 3339"),
            (METADATA.to_owned(), "2026-01-02 03:04:05", "RFC 3339"),
            (
                "rules: []\n".to_owned(),
                "2026-01-02T03:04:05Z",
                "no annotations",
            ),
        ];
        for (text, created_at, expected) in cases {
            let err = format!(
                "{:#}",
                render(&metadata(&text), created_at, None).unwrap_err()
            );
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn recognises_rfc3339_and_semver() {
        for yes in [
            "2026-11-23T00:00:00Z",
            "2026-11-23T00:00:00.123+02:00",
            "2026-11-23t00:00:00z",
        ] {
            assert!(is_rfc3339(yes), "{yes}");
        }
        for no in [
            "2026-11-23",
            "2026-11-23T00:00:00",
            "2026-11-23T00:00:00.Z",
            "2026-11-23T00:00:00+0200",
        ] {
            assert!(!is_rfc3339(no), "{no}");
        }
        for yes in ["0.1.0", "1.22.333", "1.0.0-rc.1", "1.0.0+build.5"] {
            assert!(is_semver(yes), "{yes}");
        }
        for no in ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.a.0", ""] {
            assert!(!is_semver(no), "{no}");
        }
    }
}
