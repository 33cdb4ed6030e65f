//! The documentation a user navigates: every relative link of README.md, CHANGELOG.md and docs/*.md resolves (the
//! file exists and, for `file.md#anchor`, one of its headings has that anchor as GitHub's slug), the settings
//! examples are settings the policy accepts, and the usage text stored in the annotated policy stays small.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use priority_guard_sdk::Settings;

use crate::common;

/// The usage text that `make annotated-policy.wasm` stores in the module (`kwctl inspect` prints it).
const USAGE: &str = "docs/policy-usage.md";

/// The Markdown files a user navigates, relative to the repository root, sorted.
fn documents() -> Vec<PathBuf> {
    let root = common::root();
    let mut files = vec![
        PathBuf::from("README.md"),
        PathBuf::from("CHANGELOG.md"),
        PathBuf::from("CONTRIBUTING.md"),
        PathBuf::from("sdk/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .map(|path| Path::new("docs").join(path.file_name().expect("a file name")))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn read(relative: &Path) -> String {
    std::fs::read_to_string(common::root().join(relative))
        .unwrap_or_else(|e| panic!("{}: {e}", relative.display()))
}

/// The lines of a Markdown text outside fenced code blocks, with their line numbers (1-based).
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m && trimmed.trim_end() == m => fence = None,
            (None, None) => out.push((index + 1, line)),
            _ => {}
        }
    }
    out
}

/// A line without its inline code spans (`` `...` ``), which hold no links.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// The targets of the inline links (`[text](target)`, images too) and link definitions (`[label]: target`) of a
/// line.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let trimmed = line.trim_start();
    if trimmed.starts_with('[')
        && let Some(end) = trimmed.find(']')
        && trimmed[end..].starts_with("]:")
    {
        if let Some(target) = trimmed[end + 2..].split_whitespace().next() {
            targets.push(target.to_owned());
        }
        return targets;
    }
    let mut rest = line.as_str();
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        // Nested parentheses are allowed in a destination; a title after a space is not part of it.
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = i;
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let destination = after[..end].split_whitespace().next().unwrap_or("");
        targets.push(
            destination
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned(),
        );
        rest = &after[end.min(after.len())..];
    }
    targets
}

fn is_external(target: &str) -> bool {
    let lower = target.to_ascii_lowercase();
    ["http://", "https://", "mailto:", "ftp://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// The text of a heading as GitHub renders it: code spans keep their text, emphasis marks and link targets go.
fn heading_text(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    // `[text](target)` -> `text`
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find("](").and_then(|close| {
            after[close + 2..]
                .find(')')
                .map(|paren| (close, close + 2 + paren))
        }) {
            Some((close, paren)) => {
                text.push_str(&after[..close]);
                rest = &after[paren + 1..];
            }
            None => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.chars().filter(|c| !matches!(c, '`' | '*')).collect()
}

/// GitHub's anchor for a heading (github-slugger): lower case, letters, digits, `-` and `_` kept, each space a
/// `-`, everything else dropped.
fn slug(heading: &str) -> String {
    heading_text(heading)
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors of a Markdown text's headings, with GitHub's `-1`, `-2`, ... for repeated ones.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.bytes().take_while(|b| *b == b'#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let heading = line[hashes..].trim().trim_end_matches('#').trim_end();
        let base = slug(heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while out.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        out.insert(anchor);
    }
    out
}

/// Every broken relative link of `documents`, as `file:line: target (why)`.
fn broken_links(documents: &[PathBuf]) -> Vec<String> {
    let root = common::root();
    let mut broken = Vec::new();
    for document in documents {
        let text = read(document);
        let dir = document.parent().unwrap_or(Path::new(""));
        for (number, line) in prose_lines(&text) {
            for target in link_targets(line) {
                if target.is_empty() || is_external(&target) {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let linked = if path.is_empty() {
                    document.clone()
                } else {
                    dir.join(path)
                };
                let mut problem = None;
                if !root.join(&linked).exists() {
                    problem = Some(format!("{} does not exist", linked.display()));
                } else if let Some(anchor) = anchor {
                    let is_markdown = linked.extension().is_some_and(|e| e == "md");
                    if !is_markdown {
                        problem = Some("an anchor into a file that is not Markdown".to_owned());
                    } else if !anchors(&read(&linked)).contains(anchor) {
                        problem = Some(format!(
                            "no heading of {} has this anchor",
                            linked.display()
                        ));
                    }
                }
                if let Some(problem) = problem {
                    broken.push(format!(
                        "{}:{number}: {target} ({problem})",
                        document.display()
                    ));
                }
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_of_the_documentation_resolves() {
    let documents = documents();
    assert!(
        documents.len() > 3,
        "README.md, CHANGELOG.md and docs/*.md: {documents:?}"
    );
    let broken = broken_links(&documents);
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_finds_what_it_must() {
    assert_eq!(
        link_targets("see [a](docs/a.md#x-y), ![i](img.png \"title\") and `[no](code.md)`"),
        ["docs/a.md#x-y", "img.png"]
    );
    assert_eq!(link_targets("[label]: ../b.md#z"), ["../b.md#z"]);
    assert_eq!(
        slug("Custom workload fields (`customWorkloads[]`)"),
        "custom-workload-fields-customworkloads"
    );
    assert_eq!(
        slug("Rule fields (`rules[]`, and `fallback` without the first three)"),
        "rule-fields-rules-and-fallback-without-the-first-three"
    );
    assert_eq!(
        slug("The `priority-guard` command"),
        "the-priority-guard-command"
    );
    assert_eq!(
        anchors("# A\n```\n# not a heading\n```\n## A\n### [Linked](x.md) b_c\n"),
        BTreeSet::from(["a".to_owned(), "a-1".to_owned(), "linked-b_c".to_owned()])
    );
}

/// The YAML blocks of the documentation that are settings (their first key is a settings field).
fn settings_examples() -> Vec<(String, String)> {
    let mut examples = Vec::new();
    for document in documents() {
        let text = read(&document);
        let mut block: Option<(usize, String)> = None;
        for (index, line) in text.lines().enumerate() {
            match &mut block {
                None if line.trim_start().starts_with("```yaml") => {
                    block = Some((index + 1, String::new()));
                }
                Some((start, body)) if line.trim_start().starts_with("```") => {
                    let first = body
                        .lines()
                        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                        .unwrap_or("");
                    if ["rules:", "fallback:", "customWorkloads:"]
                        .iter()
                        .any(|key| first.starts_with(key))
                    {
                        examples.push((format!("{}:{start}", document.display()), body.clone()));
                    }
                    block = None;
                }
                Some((_, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
                None => {}
            }
        }
    }
    examples
}

#[test]
fn the_settings_examples_are_valid_settings() {
    let examples = settings_examples();
    let places: Vec<&str> = examples.iter().map(|(at, _)| at.as_str()).collect();
    for required in ["README.md:", "docs/settings.md:", USAGE] {
        assert!(
            places.iter().any(|p| p.starts_with(required)),
            "no settings example found in {required}: {places:?}"
        );
    }
    for (at, yaml) in &examples {
        let value: serde_json::Value =
            serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{at}: not YAML: {e}"));
        if let Err(e) = Settings::from_json_slice(value.to_string().as_bytes()) {
            panic!("{at}: the policy refuses these settings: {e}");
        }
    }
}

/// `make annotated-policy.wasm` stores metadata.yml and the usage text as JSON in a custom section. Both stay
/// small, so that the annotated policy, which `kwctl inspect` prints and every cluster pulls, is at most 10 KiB
/// larger than policy.wasm.
#[test]
fn the_usage_text_keeps_the_annotated_policy_small() {
    const USAGE_LIMIT: usize = 8 * 1024;
    const ANNOTATION_LIMIT: usize = 10 * 1024;
    let usage = read(Path::new(USAGE));
    assert!(
        usage.len() <= USAGE_LIMIT,
        "{USAGE} is {} bytes, more than {USAGE_LIMIT}: it is what `kwctl inspect` prints; the reference belongs \
         in docs/",
        usage.len()
    );
    let makefile = read(Path::new("Makefile"));
    assert!(
        makefile.contains(&format!("-u {USAGE} ")),
        "the Makefile's annotated-policy.wasm stores {USAGE} as usage"
    );
    // The section's content, as `priority-guard annotate` writes it (key order aside), plus its name and sizes.
    let metadata: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read(Path::new("metadata.yml"))).expect("metadata.yml parses");
    let mut metadata: serde_json::Value =
        serde_json::to_value(metadata).expect("metadata.yml is JSON-compatible");
    metadata["protocolVersion"] = "v1".into();
    metadata["annotations"]["io.kubewarden.policy.usage"] = usage.into();
    let section = metadata.to_string().len() + "io.kubewarden.metadata".len() + 16;
    assert!(
        section <= ANNOTATION_LIMIT,
        "the io.kubewarden.metadata section would be {section} bytes, more than {ANNOTATION_LIMIT}"
    );
}
