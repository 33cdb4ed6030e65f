//! What a Pod asks of a node, as Kubernetes computes it: resource quantities, the Pod's effective CPU and memory
//! requests, and its QoS class.
//!
//! The QoS class follows `ComputePodQOS` of Kubernetes (`pkg/apis/core/helper/qos`): only `cpu` and `memory`
//! count, quantities of zero are ignored, app and init containers (sidecars included) are summed, the Pod is
//! `BestEffort` with no request and no limit, `Guaranteed` when every container limits both CPU and memory and the
//! summed requests equal the summed limits, `Burstable` otherwise; pod-level `spec.resources`, when present,
//! replace the containers' (feature `PodLevelResources`). Before that, as the apiserver defaults a Pod, a limit
//! without a request is also the request.
//!
//! The effective request is the scheduler's: the larger of the app containers plus the sidecars (init containers
//! with `restartPolicy: Always`) and, for each other init container, its request plus the sidecars started before
//! it; plus the Pod's `overhead`. Pod-level requests replace the containers' when set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A quantity as written: `"100m"`, `"1Gi"`, or a bare number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum QuantityDoc {
    /// `"500m"`, `"2Gi"`, `"1e3"`.
    Text(String),
    /// `2`, `0.5`.
    Number(serde_json::Number),
}

impl QuantityDoc {
    fn text(&self) -> String {
        match self {
            QuantityDoc::Text(text) => text.clone(),
            QuantityDoc::Number(number) => number.to_string(),
        }
    }
}

/// A container's (or the Pod's) `resources`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ResourcesDoc {
    #[serde(default)]
    requests: Option<BTreeMap<String, QuantityDoc>>,
    #[serde(default)]
    limits: Option<BTreeMap<String, QuantityDoc>>,
}

/// The fields of a container the report reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContainerDoc {
    #[serde(default)]
    resources: Option<ResourcesDoc>,
    #[serde(default)]
    restart_policy: Option<String>,
}

/// A Pod's QoS class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) enum Qos {
    /// Every container limits CPU and memory, and requests what it limits.
    Guaranteed,
    /// Some request or limit, not Guaranteed.
    Burstable,
    /// No request and no limit on CPU or memory.
    BestEffort,
}

/// The two resources QoS and the exposure count.
const CPU: &str = "cpu";
const MEMORY: &str = "memory";

/// `text` in thousandths of its unit (millicores, millibytes), rounded up as Kubernetes' `MilliValue` does;
/// `None` when it is not a Kubernetes quantity or is too large.
pub(crate) fn milli_units(text: &str) -> Option<i128> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let (negative, digits) = match number.as_bytes().first() {
        Some(b'-') => (true, &number[1..]),
        Some(b'+') => (false, &number[1..]),
        _ => (false, number),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if (whole.is_empty() && fraction.is_empty())
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        || whole.len() + fraction.len() > 30
    {
        return None;
    }
    let mut mantissa: i128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa * 10 + i128::from(b - b'0');
    }
    let mut power_of_ten = 3 - i32::try_from(fraction.len()).ok()?;
    let mut power_of_two = 0u32;
    match suffix {
        "" => {}
        "n" => power_of_ten -= 9,
        "u" => power_of_ten -= 6,
        "m" => power_of_ten -= 3,
        "k" => power_of_ten += 3,
        "M" => power_of_ten += 6,
        "G" => power_of_ten += 9,
        "T" => power_of_ten += 12,
        "P" => power_of_ten += 15,
        "E" => power_of_ten += 18,
        "Ki" => power_of_two = 10,
        "Mi" => power_of_two = 20,
        "Gi" => power_of_two = 30,
        "Ti" => power_of_two = 40,
        "Pi" => power_of_two = 50,
        "Ei" => power_of_two = 60,
        exponent if exponent.starts_with(['e', 'E']) => {
            let exponent: i32 = exponent[1..].parse().ok()?;
            if exponent.abs() > 40 {
                return None;
            }
            power_of_ten += exponent;
        }
        _ => return None,
    }
    let mut value = mantissa.checked_mul(1i128.checked_shl(power_of_two)?)?;
    if power_of_ten >= 0 {
        value = value.checked_mul(10i128.checked_pow(power_of_ten.unsigned_abs())?)?;
    } else {
        let divisor = 10i128
            .checked_pow(power_of_ten.unsigned_abs())
            .unwrap_or(i128::MAX);
        value = value / divisor + i128::from(value % divisor != 0);
    }
    Some(if negative { -value } else { value })
}

/// CPU and memory, in millicores and millibytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Amounts {
    cpu: Option<i128>,
    memory: Option<i128>,
}

impl Amounts {
    fn add(&mut self, other: Amounts) {
        for (mine, theirs) in [(&mut self.cpu, other.cpu), (&mut self.memory, other.memory)] {
            if let Some(theirs) = theirs {
                *mine = Some(mine.unwrap_or(0).saturating_add(theirs));
            }
        }
    }

    fn max(self, other: Amounts) -> Amounts {
        let larger = |a: Option<i128>, b: Option<i128>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Amounts {
            cpu: larger(self.cpu, other.cpu),
            memory: larger(self.memory, other.memory),
        }
    }
}

/// One resource list read: the positive CPU and memory amounts (others are ignored), or the first quantity that
/// cannot be read.
fn amounts(list: &BTreeMap<String, QuantityDoc>, place: &str) -> Result<Amounts, String> {
    let mut found = Amounts::default();
    for (name, quantity) in list {
        if name != CPU && name != MEMORY {
            continue;
        }
        let text = quantity.text();
        let value = milli_units(&text)
            .ok_or_else(|| format!("{place}.{name}: `{text}` is not a quantity"))?;
        if value > 0 {
            *(if name == CPU {
                &mut found.cpu
            } else {
                &mut found.memory
            }) = Some(value);
        }
    }
    Ok(found)
}

/// Requests and limits of one container (or the Pod), with a limit as the request where none is given.
fn requests_and_limits(
    resources: Option<&ResourcesDoc>,
    place: &str,
) -> Result<(Amounts, Amounts), String> {
    let Some(resources) = resources else {
        return Ok((Amounts::default(), Amounts::default()));
    };
    let empty = BTreeMap::new();
    let requested = resources.requests.as_ref().unwrap_or(&empty);
    let limited = resources.limits.as_ref().unwrap_or(&empty);
    let mut requests = amounts(requested, &format!("{place}.requests"))?;
    let limits = amounts(limited, &format!("{place}.limits"))?;
    // The apiserver's defaulting: a limit without a request (the key absent) is the request.
    if !requested.contains_key(CPU) {
        requests.cpu = requests.cpu.or(limits.cpu);
    }
    if !requested.contains_key(MEMORY) {
        requests.memory = requests.memory.or(limits.memory);
    }
    Ok((requests, limits))
}

/// What the exposure needs of a Pod's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PodResources {
    /// The QoS class.
    pub qos: Qos,
    /// The effective CPU request, millicores.
    pub cpu_millis: u64,
    /// The effective memory request, bytes.
    pub memory_bytes: u64,
}

/// The resources of a Pod's spec (see the module documentation).
pub(crate) fn pod_resources(
    containers: &[ContainerDoc],
    init_containers: &[ContainerDoc],
    pod_level: Option<&ResourcesDoc>,
    overhead: Option<&BTreeMap<String, QuantityDoc>>,
) -> Result<PodResources, String> {
    // QoS, as ComputePodQOS.
    let mut requests = Amounts::default();
    let mut limits = Amounts::default();
    let mut guaranteed = true;
    let mut sums = |request: Amounts, limit: Amounts| {
        requests.add(request);
        limits.add(limit);
        if limit.cpu.is_none() || limit.memory.is_none() {
            guaranteed = false;
        }
    };
    let mut read = Vec::with_capacity(containers.len() + init_containers.len());
    for (list, field) in [
        (containers, "containers"),
        (init_containers, "initContainers"),
    ] {
        for (index, container) in list.iter().enumerate() {
            let place = format!("spec.{field}[{index}].resources");
            read.push(requests_and_limits(container.resources.as_ref(), &place)?);
        }
    }
    let pod = match pod_level {
        Some(resources) => Some(requests_and_limits(Some(resources), "spec.resources")?),
        None => None,
    };
    match pod {
        Some((request, limit)) => {
            requests = request;
            limits = limit;
            if limit.cpu.is_none() || limit.memory.is_none() {
                guaranteed = false;
            }
        }
        None => {
            for (request, limit) in &read {
                sums(*request, *limit);
            }
        }
    }
    let qos = if requests == Amounts::default() && limits == Amounts::default() {
        Qos::BestEffort
    } else {
        let equal = |request: Option<i128>, limit: Option<i128>| match request {
            None => true,
            Some(request) => limit == Some(request),
        };
        let same_resources = requests.cpu.is_some() == limits.cpu.is_some()
            && requests.memory.is_some() == limits.memory.is_some();
        if guaranteed
            && equal(requests.cpu, limits.cpu)
            && equal(requests.memory, limits.memory)
            && same_resources
        {
            Qos::Guaranteed
        } else {
            Qos::Burstable
        }
    };

    // The effective request, as the scheduler counts it.
    let effective = match pod {
        Some((request, _)) if request != Amounts::default() => request,
        _ => {
            let (app, init) = read.split_at(containers.len());
            let mut running = Amounts::default();
            for (request, _) in app {
                running.add(*request);
            }
            let mut sidecars = Amounts::default();
            let mut init_peak = Amounts::default();
            for ((request, _), container) in init.iter().zip(init_containers) {
                if container.restart_policy.as_deref() == Some("Always") {
                    sidecars.add(*request);
                    init_peak = init_peak.max(sidecars);
                } else {
                    let mut during = sidecars;
                    during.add(*request);
                    init_peak = init_peak.max(during);
                }
            }
            running.add(sidecars);
            running.max(init_peak)
        }
    };
    let mut effective = effective;
    if let Some(overhead) = overhead {
        effective.add(amounts(overhead, "spec.overhead")?);
    }
    let positive =
        |value: Option<i128>| u64::try_from(value.unwrap_or(0).max(0)).unwrap_or(u64::MAX);
    Ok(PodResources {
        qos,
        cpu_millis: positive(effective.cpu),
        memory_bytes: positive(
            effective
                .memory
                .map(|m| m / 1000 + i128::from(m % 1000 != 0)),
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_kubernetes_writes_them() {
        let cases = [
            ("100m", Some(100)),
            ("1", Some(1000)),
            ("0.5", Some(500)),
            ("2.5", Some(2500)),
            ("1Ki", Some(1024 * 1000)),
            ("128Mi", Some(128 * 1024 * 1024 * 1000)),
            ("1G", Some(1_000_000_000_000)),
            ("1e3", Some(1_000_000)),
            ("1E-3", Some(1)),
            ("1n", Some(1)),
            ("250u", Some(1)),
            ("+3", Some(3000)),
            ("-1", Some(-1000)),
            ("", None),
            ("abc", None),
            ("1Qi", None),
            ("1.2.3", None),
            ("1e999", None),
            ("99999999999999999999999999999999Ei", None),
        ];
        for (text, expected) in cases {
            assert_eq!(milli_units(text), expected, "{text}");
        }
    }

    fn container(json: serde_json::Value) -> ContainerDoc {
        serde_json::from_value(json).unwrap()
    }

    #[allow(
        clippy::cloned_ref_to_slice_refs,
        reason = "the table reads better with values"
    )]
    fn qos(containers: &[serde_json::Value], init: &[serde_json::Value]) -> Qos {
        let containers: Vec<_> = containers.iter().cloned().map(container).collect();
        let init: Vec<_> = init.iter().cloned().map(container).collect();
        pod_resources(&containers, &init, None, None).unwrap().qos
    }

    #[test]
    #[allow(
        clippy::cloned_ref_to_slice_refs,
        reason = "the table reads better with values"
    )]
    fn qos_classes_are_computed_as_kubernetes_does() {
        use serde_json::json;
        let full = json!({"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}});
        let requested = json!({"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}});
        let equal = json!({"resources": {"requests": {"cpu": "1000m", "memory": "1073741824"},
                                         "limits": {"cpu": "1", "memory": "1Gi"}}});
        let cpu_only = json!({"resources": {"limits": {"cpu": "1"}}});
        let zero = json!({"resources": {"requests": {"cpu": "0", "memory": "0"}}});
        let storage = json!({"resources": {"requests": {"ephemeral-storage": "1Gi"}}});
        let none = json!({});
        // Limits alone default the requests: Guaranteed.
        assert_eq!(qos(&[full.clone()], &[]), Qos::Guaranteed);
        assert_eq!(qos(&[equal.clone(), full.clone()], &[]), Qos::Guaranteed);
        assert_eq!(qos(&[requested], &[]), Qos::Burstable);
        assert_eq!(qos(&[cpu_only], &[]), Qos::Burstable);
        // A container without limits makes the Pod Burstable, init containers included.
        assert_eq!(qos(&[full.clone(), none.clone()], &[]), Qos::Burstable);
        assert_eq!(qos(&[full.clone()], &[none.clone()]), Qos::Burstable);
        assert_eq!(qos(&[none.clone()], &[full.clone()]), Qos::Burstable);
        // Zero quantities and other resources do not count.
        assert_eq!(qos(&[zero], &[]), Qos::BestEffort);
        assert_eq!(qos(&[storage], &[]), Qos::BestEffort);
        assert_eq!(qos(&[none.clone()], &[none]), Qos::BestEffort);
        assert_eq!(qos(&[], &[]), Qos::BestEffort);
        // Requests above limits are not Guaranteed.
        let more = json!({"resources": {"requests": {"cpu": "2", "memory": "1Gi"},
                                        "limits": {"cpu": "1", "memory": "1Gi"}}});
        assert_eq!(qos(&[more], &[]), Qos::Burstable);
    }

    #[test]
    fn pod_level_resources_replace_the_containers() {
        let pod: ResourcesDoc =
            serde_json::from_value(serde_json::json!({"limits": {"cpu": "2", "memory": "2Gi"}}))
                .unwrap();
        let found = pod_resources(&[ContainerDoc::default()], &[], Some(&pod), None).unwrap();
        assert_eq!(found.qos, Qos::Guaranteed);
        assert_eq!((found.cpu_millis, found.memory_bytes), (2000, 2 << 30));
    }

    #[test]
    fn effective_requests_count_sidecars_init_peaks_and_overhead() {
        use serde_json::json;
        let app = container(json!({"resources": {"requests": {"cpu": "500m", "memory": "100Mi"}}}));
        let sidecar = container(
            json!({"restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "10Mi"}}}),
        );
        let heavy_init =
            container(json!({"resources": {"requests": {"cpu": "2", "memory": "1Mi"}}}));
        let overhead: BTreeMap<String, QuantityDoc> =
            serde_json::from_value(json!({"cpu": "10m", "memory": 1024})).unwrap();
        let found = pod_resources(&[app], &[sidecar, heavy_init], None, Some(&overhead)).unwrap();
        // CPU: the init container (2) with the sidecar before it (0.1) beats 0.5 + 0.1; memory: 100Mi + 10Mi.
        assert_eq!(found.cpu_millis, 2100 + 10);
        assert_eq!(found.memory_bytes, (110 << 20) + 1024);
        assert_eq!(found.qos, Qos::Burstable);
    }

    #[test]
    fn an_unreadable_quantity_names_its_field() {
        let bad = container(serde_json::json!({"resources": {"limits": {"memory": "lots"}}}));
        let error = pod_resources(&[ContainerDoc::default(), bad], &[], None, None).unwrap_err();
        assert_eq!(
            error,
            "spec.containers[1].resources.limits.memory: `lots` is not a quantity"
        );
    }
}
