//! The waPC engine under [`crate::PolicyModule`]: a policy module on wasmtime, instantiated from a pre-linked
//! [`InstancePre`], with the limits of every instance (time, memory) in the host's hands.
//!
//! It plays the part of `wasmtime-provider`'s engine (same imports: WASI preview 1 and the waPC host
//! functions; same start functions, `_start` then `wapc_init`), and adds what a host that measures and
//! limits its guests needs: the store of each instance, so that the size of its linear memory can be read and
//! a memory limit that was hit can be told apart from any other trap.

use std::sync::{Arc, Mutex, PoisonError};

use wapc::{HOST_NAMESPACE, ModuleState, WebAssemblyEngineProvider, wapc_functions};
use wasmtime_provider::wasmtime::{
    self, AsContextMut, Caller, Engine, InstancePre, Linker, Memory, ResourceLimiter, Store,
    TypedFunc,
};
use wasmtime_provider::wasmtime_wasi::{self, WasiCtxBuilder, p1::WasiP1Ctx};

/// The most table elements an instance may grow a table to (tables hold function references; policies
/// never grow them much).
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The limits applied to each instance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The most a linear memory may grow to, in bytes.
    pub(crate) max_memory_bytes: Option<usize>,
    /// Epoch ticks a call (or the initialization) may run; `None` when the engine has no epoch interruption.
    pub(crate) deadline_ticks: Option<u64>,
}

/// What an instance used, read after each call.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    /// The size of the instance's linear memory (`memory` export), in bytes.
    pub(crate) memory_bytes: usize,
}

/// The module linked with the host functions, ready to be instantiated many times.
pub(crate) struct EnginePre {
    engine: Engine,
    instance_pre: InstancePre<StoreData>,
    limits: Limits,
}

impl EnginePre {
    /// Links `module` against WASI preview 1 (and the older preview 0 names) and the waPC host functions.
    pub(crate) fn new(
        engine: &Engine,
        module: &wasmtime::Module,
        limits: Limits,
    ) -> wasmtime::Result<Self> {
        let mut linker: Linker<StoreData> = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut StoreData| &mut s.wasi)?;
        wasmtime_wasi::p0::add_to_linker_sync(&mut linker, |s: &mut StoreData| &mut s.wasi)?;
        add_wapc_functions(&mut linker)?;
        let instance_pre = linker.instantiate_pre(module)?;
        Ok(Self {
            engine: engine.clone(),
            instance_pre,
            limits,
        })
    }

    /// An engine for one instance; it is instantiated when `WapcHost::new` calls `init`.
    pub(crate) fn provider(self: &Arc<Self>, usage: Arc<Mutex<Usage>>) -> Provider {
        Provider {
            pre: Arc::clone(self),
            usage,
            running: None,
        }
    }
}

/// The data of an instance's store.
pub(crate) struct StoreData {
    wasi: WasiP1Ctx,
    host: Arc<ModuleState>,
    limiter: Limiter,
}

/// Refuses memory growth past the limit and remembers that it did.
struct Limiter {
    max_memory_bytes: Option<usize>,
    memory_refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if self.max_memory_bytes.is_some_and(|max| desired > max) {
            self.memory_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

struct Running {
    store: Store<StoreData>,
    memory: Option<Memory>,
    guest_call: TypedFunc<(i32, i32), i32>,
}

/// The engine of one instance, driven by `wapc::WapcHost`.
pub(crate) struct Provider {
    pre: Arc<EnginePre>,
    usage: Arc<Mutex<Usage>>,
    running: Option<Running>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Provider {
    fn record(&self) {
        if let Some(running) = &self.running {
            let memory_bytes = running
                .memory
                .map_or(0, |memory| memory.data_size(&running.store));
            let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
            usage.memory_bytes = memory_bytes;
        }
    }

    /// Describes a failed call: the limit that stopped it, or the trap.
    fn describe(&self, store: &Store<StoreData>, error: &wasmtime::Error) -> String {
        if store.data().limiter.memory_refused {
            let limit = self.pre.limits.max_memory_bytes.unwrap_or_default();
            return format!(
                "the policy exhausted its memory limit of {} MiB ({error})",
                limit / (1024 * 1024)
            );
        }
        if matches!(
            error.downcast_ref::<wasmtime::Trap>(),
            Some(wasmtime::Trap::Interrupt)
        ) {
            return "guest code interrupted, execution deadline exceeded".to_owned();
        }
        format!("{error:#}")
    }
}

impl WebAssemblyEngineProvider for Provider {
    fn init(&mut self, host: Arc<ModuleState>) -> Result<(), BoxError> {
        let wasi = WasiCtxBuilder::new().inherit_stderr().build_p1();
        let data = StoreData {
            wasi,
            host,
            limiter: Limiter {
                max_memory_bytes: self.pre.limits.max_memory_bytes,
                memory_refused: false,
            },
        };
        let mut store = Store::new(&self.pre.engine, data);
        store.limiter(|data| &mut data.limiter);
        if let Some(ticks) = self.pre.limits.deadline_ticks {
            store.set_epoch_deadline(ticks);
        }
        let instance = self
            .pre
            .instance_pre
            .instantiate(&mut store)
            .map_err(|e| self.describe(&store, &e))?;
        let guest_call = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, wapc_functions::GUEST_CALL)
            .map_err(|_| {
                format!(
                    "the module does not export the waPC function {}",
                    wapc_functions::GUEST_CALL
                )
            })?;
        for start in wapc_functions::REQUIRED_STARTS {
            let Some(func) = instance.get_func(&mut store, start) else {
                continue;
            };
            let func = func.typed::<(), ()>(&store)?;
            if let Some(ticks) = self.pre.limits.deadline_ticks {
                store.set_epoch_deadline(ticks);
            }
            if let Err(error) = func.call(&mut store, ()) {
                // A WASI program (TinyGo) may end its `_start` with exit(0).
                if error
                    .downcast_ref::<wasmtime_wasi::I32Exit>()
                    .is_some_and(|exit| exit.0 == 0)
                {
                    continue;
                }
                return Err(format!("{start}: {}", self.describe(&store, &error)).into());
            }
        }
        let memory = instance.get_memory(&mut store, "memory");
        self.running = Some(Running {
            store,
            memory,
            guest_call,
        });
        self.record();
        Ok(())
    }

    fn call(&mut self, op_length: i32, msg_length: i32) -> Result<i32, BoxError> {
        let deadline = self.pre.limits.deadline_ticks;
        let Some(running) = self.running.as_mut() else {
            return Err("the instance is not initialized".into());
        };
        if let Some(ticks) = deadline {
            running.store.set_epoch_deadline(ticks);
        }
        running.store.data_mut().limiter.memory_refused = false;
        let result = running
            .guest_call
            .call(&mut running.store, (op_length, msg_length));
        let result = match result {
            Ok(code) => Ok(code),
            Err(error) => {
                let running = self.running.as_ref().map(|r| &r.store);
                let message = running.map_or_else(
                    || format!("{error:#}"),
                    |store| self.describe(store, &error),
                );
                Err(message.into())
            }
        };
        self.record();
        result
    }

    fn replace(&mut self, _bytes: &[u8]) -> Result<(), BoxError> {
        Err(
            "replacing the module of an instance is not supported; compile a new PolicyModule"
                .into(),
        )
    }
}

/// The guest's linear memory, exported as `memory`.
fn memory(caller: &mut Caller<'_, StoreData>) -> wasmtime::Result<Memory> {
    caller
        .get_export("memory")
        .and_then(wasmtime::Extern::into_memory)
        .ok_or_else(|| wasmtime::format_err!("the module exports no memory named `memory`"))
}

/// Copies `len` bytes at `ptr` out of the guest's memory, refusing ranges outside it.
fn read(caller: &mut Caller<'_, StoreData>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let memory = memory(caller)?;
    let start = usize::try_from(ptr).map_err(|_| wasmtime::format_err!("negative pointer"))?;
    let len = usize::try_from(len).map_err(|_| wasmtime::format_err!("negative length"))?;
    memory
        .data(&caller)
        .get(start..start.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| wasmtime::format_err!("{len} bytes at {start} are outside the guest memory"))
}

/// Writes `bytes` into the guest's memory at `ptr`.
fn write(caller: &mut Caller<'_, StoreData>, ptr: i32, bytes: &[u8]) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    let start = usize::try_from(ptr).map_err(|_| wasmtime::format_err!("negative pointer"))?;
    memory
        .write(caller.as_context_mut(), start, bytes)
        .map_err(|e| wasmtime::format_err!("{e}"))
}

fn utf8(bytes: Vec<u8>, what: &str) -> wasmtime::Result<String> {
    String::from_utf8(bytes).map_err(|e| wasmtime::format_err!("{what} is not UTF-8: {e}"))
}

fn len_i32(len: usize) -> wasmtime::Result<i32> {
    i32::try_from(len).map_err(|_| wasmtime::format_err!("{len} bytes do not fit the guest"))
}

/// The waPC host functions (module `wapc`), as waPC guests import them.
fn add_wapc_functions(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    use wapc_functions as f;
    linker.func_wrap(
        HOST_NAMESPACE,
        f::GUEST_REQUEST_FN,
        |mut caller: Caller<'_, StoreData>, op_ptr: i32, ptr: i32| -> wasmtime::Result<()> {
            if let Some(invocation) = caller.data().host.get_guest_request() {
                write(&mut caller, ptr, &invocation.msg)?;
                write(&mut caller, op_ptr, invocation.operation.as_bytes())?;
            }
            Ok(())
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        f::HOST_CONSOLE_LOG,
        |mut caller: Caller<'_, StoreData>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let message = utf8(read(&mut caller, ptr, len)?, "a console message")?;
            caller.data().host.do_console_log(&message);
            Ok(())
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        f::HOST_CALL,
        #[allow(clippy::too_many_arguments, reason = "the waPC ABI")]
        |mut caller: Caller<'_, StoreData>,
         bd_ptr: i32,
         bd_len: i32,
         ns_ptr: i32,
         ns_len: i32,
         op_ptr: i32,
         op_len: i32,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            let payload = read(&mut caller, ptr, len)?;
            let binding = utf8(read(&mut caller, bd_ptr, bd_len)?, "a host call binding")?;
            let namespace = utf8(read(&mut caller, ns_ptr, ns_len)?, "a host call namespace")?;
            let operation = utf8(read(&mut caller, op_ptr, op_len)?, "a host call operation")?;
            let result = caller
                .data()
                .host
                .do_host_call(&binding, &namespace, &operation, &payload);
            Ok(result.unwrap_or(0))
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        f::HOST_RESPONSE_FN,
        |mut caller: Caller<'_, StoreData>, ptr: i32| -> wasmtime::Result<()> {
            let host = Arc::clone(&caller.data().host);
            host.with_host_response(|bytes| write(&mut caller, ptr, bytes))
                .transpose()?;
            Ok(())
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        f::HOST_RESPONSE_LEN_FN,
        |caller: Caller<'_, StoreData>| -> wasmtime::Result<i32> {
            len_i32(caller.data().host.host_response_len())
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        f::GUEST_RESPONSE_FN,
        |mut caller: Caller<'_, StoreData>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let response = read(&mut caller, ptr, len)?;
            caller.data().host.set_guest_response(response);
            Ok(())
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        f::GUEST_ERROR_FN,
        |mut caller: Caller<'_, StoreData>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let message = utf8(read(&mut caller, ptr, len)?, "a guest error")?;
            caller.data().host.set_guest_error(message);
            Ok(())
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        f::HOST_ERROR_FN,
        |mut caller: Caller<'_, StoreData>, ptr: i32| -> wasmtime::Result<()> {
            if let Some(error) = caller.data().host.get_host_error() {
                write(&mut caller, ptr, error.as_bytes())?;
            }
            Ok(())
        },
    )?;
    linker.func_wrap(
        HOST_NAMESPACE,
        f::HOST_ERROR_LEN_FN,
        |caller: Caller<'_, StoreData>| -> wasmtime::Result<i32> {
            len_i32(caller.data().host.get_host_error().map_or(0, |e| e.len()))
        },
    )?;
    Ok(())
}
