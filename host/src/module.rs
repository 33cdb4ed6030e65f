//! Loading a policy module once and running it in cheap, per-request instances.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wasmtime_provider::wasmtime;

use crate::callback::CallbackContext;
use crate::cluster::ClusterState;
use crate::engine::{EnginePre, Limits, Usage};
use crate::error::{HostError, Result};
use crate::metadata::PolicyMetadata;
use crate::response::{SettingsValidation, ValidationResponse, admission_request_from_json};

/// How often the epoch of the engine advances when a timeout is set.
const EPOCH_TICK: Duration = Duration::from_millis(50);

/// How a policy is loaded and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOptions {
    /// The `(apiVersion, kind)` pairs the policy may read through the `kubernetes` host
    /// capability. `None`: those of the module's `contextAwareResources` metadata, or none when
    /// the module carries no metadata (like `kwctl run` on a module that is not annotated).
    pub allowed_resources: Option<BTreeSet<(String, String)>>,
    /// Whether the policy may mutate. `None`: the module metadata's `mutating`, or `true` when the
    /// module carries no metadata (nothing says otherwise, so a plain module can be tried out
    /// fully; a deployment always has the flag).
    pub allow_mutations: Option<bool>,
    /// The longest a single call into the guest (and its initialization) may run before it is
    /// interrupted, enforced with wasmtime epochs. `None`: no limit. Default: 2 seconds.
    pub timeout: Option<Duration>,
    /// The most each linear memory of an instance may grow to, in bytes. `None`: no limit beyond
    /// wasmtime's own. Default: [`DEFAULT_MAX_MEMORY_BYTES`].
    pub max_memory_bytes: Option<usize>,
    /// Allocate instances from a pool of this many pre-reserved slots (wasmtime's pooling
    /// allocator, as a server that instantiates per request uses) instead of mapping memory for
    /// each instance. At most that many instances of the module can live at once. The first
    /// [`POOL_KEEP_RESIDENT_BYTES`] of a slot's memory and tables stay mapped when an instance
    /// ends (reset in place, not returned to the kernel), so that the next instance does not fault
    /// its pages in again. `None` (default): allocate on demand.
    pub instance_pool: Option<u32>,
}

/// The default memory limit of an instance: 64 MiB, room for a request of 10 MB and its parse.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 64 * 1024 * 1024;

/// How much of each pooled slot's linear memory (and table) is kept resident between instances: 1 MiB, more
/// than policy.wasm uses for a request (192 KiB). Below it, wasmtime resets an ending instance's memory in place
/// (only the pages it wrote, where the kernel can tell them); above it, the memory goes back to the kernel with
/// `madvise` and is faulted in again by the next instance. Measured with `priority-guard bench` when this was
/// added (README "Performance"): instantiation 20 us with nothing kept resident, 5 us with this, and a
/// fresh-instance Pod validate 71-87 us against about 49 us.
pub const POOL_KEEP_RESIDENT_BYTES: usize = 1024 * 1024;

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            allowed_resources: None,
            allow_mutations: None,
            timeout: Some(Duration::from_secs(2)),
            max_memory_bytes: Some(DEFAULT_MAX_MEMORY_BYTES),
            instance_pool: None,
        }
    }
}

/// A thread advancing the engine's epoch; it stops when the last handle is dropped.
#[derive(Debug)]
struct EpochTicker {
    _stop: mpsc::Sender<()>,
}

impl EpochTicker {
    fn start(engine: wasmtime::Engine) -> Result<Arc<Self>> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("policy-epoch".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| HostError::Instantiate(format!("cannot start the epoch thread: {e}")))?;
        Ok(Arc::new(Self { _stop: stop }))
    }
}

/// A compiled policy, ready to be instantiated any number of times.
///
/// `PolicyModule` is `Send + Sync`: one module can serve instances on several threads.
pub struct PolicyModule {
    pre: Arc<EnginePre>,
    metadata: Option<PolicyMetadata>,
    allowed_resources: Arc<BTreeSet<(String, String)>>,
    allow_mutations: bool,
    limits: Limits,
    ticker: Option<Arc<EpochTicker>>,
}

impl std::fmt::Debug for PolicyModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyModule")
            .field("metadata", &self.metadata)
            .field("allowed_resources", &self.allowed_resources)
            .field("allow_mutations", &self.allow_mutations)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PolicyModule {
    /// Compiles a policy (a waPC module, possibly annotated with Kubewarden metadata).
    ///
    /// # Errors
    /// [`HostError::InvalidWasm`] for bytes that are not a core wasm module,
    /// [`HostError::Metadata`] for an unreadable `io.kubewarden.metadata` section or one whose
    /// `protocolVersion` is not `v1` (policy-server refuses those too),
    /// [`HostError::Compile`] when wasmtime refuses the module, [`HostError::Instantiate`] when it
    /// imports functions the host does not provide.
    pub fn from_bytes(wasm: &[u8], options: HostOptions) -> Result<Self> {
        let metadata = PolicyMetadata::from_wasm(wasm)?;
        if let Some(metadata) = &metadata {
            metadata.check_protocol_version()?;
        }

        let mut config = wasmtime::Config::new();
        config.strategy(wasmtime::Strategy::Cranelift);
        if options.timeout.is_some() {
            config.epoch_interruption(true);
        }
        if let Some(slots) = options.instance_pool {
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_core_instances(slots)
                .total_memories(slots)
                .total_tables(slots)
                .table_elements(100_000)
                .linear_memory_keep_resident(POOL_KEEP_RESIDENT_BYTES)
                .table_keep_resident(POOL_KEEP_RESIDENT_BYTES);
            if let Some(max) = options.max_memory_bytes {
                pool.max_memory_size(max);
            }
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine =
            wasmtime::Engine::new(&config).map_err(|e| HostError::Compile(format!("{e:#}")))?;
        let module = wasmtime::Module::new(&engine, wasm)
            .map_err(|e| HostError::Compile(format!("{e:#}")))?;

        let (deadline_ticks, ticker) = match options.timeout {
            Some(timeout) => {
                let ticks = u64::try_from(timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()))
                    .unwrap_or(u64::MAX)
                    .max(1);
                (Some(ticks), Some(EpochTicker::start(engine.clone())?))
            }
            None => (None, None),
        };
        let limits = Limits {
            max_memory_bytes: options.max_memory_bytes,
            deadline_ticks,
        };
        let pre = EnginePre::new(&engine, &module, limits)
            .map_err(|e| HostError::Instantiate(format!("{e:#}")))?;

        let allowed_resources = options.allowed_resources.unwrap_or_else(|| {
            metadata
                .as_ref()
                .map(PolicyMetadata::allowed_resources)
                .unwrap_or_default()
        });
        let allow_mutations = options
            .allow_mutations
            .unwrap_or_else(|| metadata.as_ref().is_none_or(|m| m.mutating));

        Ok(Self {
            pre: Arc::new(pre),
            metadata,
            allowed_resources: Arc::new(allowed_resources),
            allow_mutations,
            limits,
            ticker,
        })
    }

    /// Reads and compiles a policy file, see [`PolicyModule::from_bytes`].
    ///
    /// # Errors
    /// [`HostError::Io`] when the file cannot be read, otherwise as [`PolicyModule::from_bytes`].
    pub fn from_file(path: &Path, options: HostOptions) -> Result<Self> {
        let wasm = std::fs::read(path).map_err(|source| HostError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(&wasm, options)
    }

    /// The metadata found in the module's `io.kubewarden.metadata` section, if any.
    #[must_use]
    pub fn metadata(&self) -> Option<&PolicyMetadata> {
        self.metadata.as_ref()
    }

    /// The `(apiVersion, kind)` pairs the policy may read (see [`HostOptions`]).
    #[must_use]
    pub fn allowed_resources(&self) -> &BTreeSet<(String, String)> {
        &self.allowed_resources
    }

    /// Whether the policy may mutate (see [`HostOptions`]).
    #[must_use]
    pub fn allow_mutations(&self) -> bool {
        self.allow_mutations
    }

    /// A fresh instance of the policy (its own memory, its waPC initialization run), answering
    /// Kubernetes lookups from `cluster`.
    ///
    /// # Errors
    /// [`HostError::Instantiate`] when instantiation or the guest's initialization fails.
    pub fn instance(&self, cluster: Arc<ClusterState>) -> Result<PolicyInstance> {
        let usage = Arc::new(Mutex::new(Usage::default()));
        let provider = self.pre.provider(Arc::clone(&usage));
        let context = Arc::new(CallbackContext::new(
            Arc::clone(&self.allowed_resources),
            cluster,
        ));
        let callback_context = Arc::clone(&context);
        let host = wapc::WapcHost::new(
            Box::new(provider),
            Some(Box::new(
                move |_id: u64, binding: &str, namespace: &str, operation: &str, payload: &[u8]| {
                    callback_context
                        .handle(binding, namespace, operation, payload)
                        .map_err(Into::into)
                },
            )),
        )
        .map_err(|e| HostError::Instantiate(e.to_string()))?;
        Ok(PolicyInstance {
            host,
            context,
            usage,
            _ticker: self.ticker.clone(),
        })
    }
}

/// One instance of a policy. Calls run one at a time; the instance keeps its memory between
/// calls, like a policy-server worker does. It is not `Send`: create one per thread.
pub struct PolicyInstance {
    host: wapc::WapcHost,
    context: Arc<CallbackContext>,
    usage: Arc<Mutex<Usage>>,
    /// Keeps the epoch advancing while the instance lives, even if its module is dropped.
    _ticker: Option<Arc<EpochTicker>>,
}

impl std::fmt::Debug for PolicyInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyInstance")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

fn parse_answer<T: DeserializeOwned>(operation: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| HostError::InvalidResponse {
        operation: operation.to_owned(),
        message: format!("{e} in {}", String::from_utf8_lossy(bytes)),
    })
}

impl PolicyInstance {
    /// Calls a waPC operation of the guest with a raw payload and returns its raw answer.
    ///
    /// # Errors
    /// [`HostError::GuestCall`] when the guest reports an error, traps, exceeds its time, or does
    /// not know the operation.
    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>> {
        self.host
            .call(operation, payload)
            .map_err(|e| HostError::GuestCall {
                operation: operation.to_owned(),
                message: match e {
                    wapc::errors::Error::GuestCallFailure(message) => message,
                    other => other.to_string(),
                },
            })
    }

    /// The protocol version the policy speaks (`v1` for every current Kubewarden policy).
    ///
    /// # Errors
    /// As [`PolicyInstance::call`], or [`HostError::InvalidResponse`] when the answer is not a
    /// JSON string.
    pub fn protocol_version(&self) -> Result<String> {
        let answer = self.call("protocol_version", b"")?;
        parse_answer("protocol_version", &answer)
    }

    /// Asks the policy whether it accepts these settings.
    ///
    /// # Errors
    /// As [`PolicyInstance::call`], or [`HostError::InvalidResponse`] for an answer that is not
    /// `{"valid": bool, "message": ...}`.
    pub fn validate_settings(&self, settings: &Value) -> Result<SettingsValidation> {
        let payload = serde_json::to_vec(settings).map_err(|source| HostError::Serialize {
            what: "the settings",
            source,
        })?;
        let answer = self.call("validate_settings", &payload)?;
        parse_answer("validate_settings", &answer)
    }

    /// Evaluates an admission request (a bare AdmissionRequest, or an AdmissionReview that is
    /// unwrapped first) with these settings: sends `{"request": ..., "settings": ...}` to
    /// `validate`.
    ///
    /// # Errors
    /// [`HostError::AdmissionRequest`] for a document that is not a request, otherwise as
    /// [`PolicyInstance::call`], or [`HostError::InvalidResponse`] for an answer that is not a
    /// ValidationResponse.
    pub fn validate(&self, request: &Value, settings: &Value) -> Result<ValidationResponse> {
        let request = admission_request_from_json(request.clone())?;
        let payload = serde_json::to_vec(&json!({"request": request, "settings": settings}))
            .map_err(|source| HostError::Serialize {
                what: "the validation request",
                source,
            })?;
        let answer = self.call("validate", &payload)?;
        parse_answer("validate", &answer)
    }

    /// Like [`PolicyInstance::validate`], but failing closed: a policy that traps, runs out of
    /// time or exhausts its memory limit rejects the request (code 500, the message saying what
    /// stopped it), as an admission server must not let through what its policy could not decide.
    ///
    /// # Errors
    /// As [`PolicyInstance::validate`] for everything but a failed call into the guest.
    pub fn validate_fail_closed(
        &self,
        request: &Value,
        settings: &Value,
    ) -> Result<ValidationResponse> {
        match self.validate(request, settings) {
            Err(HostError::GuestCall { message, .. }) => Ok(ValidationResponse {
                accepted: false,
                message: Some(format!(
                    "the policy could not evaluate the request: {message}"
                )),
                code: Some(500),
                ..ValidationResponse::default()
            }),
            other => other,
        }
    }

    /// The size of the instance's linear memory after its last call (or its initialization), in
    /// bytes: what the instance holds while it lives.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .memory_bytes
    }

    /// Takes the `tracing/log` events the policy sent since the last call of this method (each a
    /// JSON object with at least `level` and `message`).
    #[must_use]
    pub fn take_logs(&self) -> Vec<Value> {
        self.context.take_logs()
    }
}
