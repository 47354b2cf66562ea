//! `Device`: a cheap handle on a backend. Model code holds devices, never backends.

use super::cpu::CpuBackend;
use super::cuda::CudaBackend;
use super::Backend;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone)]
pub struct Device {
    backend: Arc<dyn Backend>,
}

impl Device {
    /// The process-wide CPU device (its thread pool is rayon's global one).
    pub fn cpu() -> Device {
        static CPU: OnceLock<Device> = OnceLock::new();
        CPU.get_or_init(|| Device { backend: Arc::new(CpuBackend) }).clone()
    }

    /// Parses a device name as given on the command line: `cpu`, `cuda` (= `cuda:0`),
    /// `cuda:N`, or the CPU emulation of the CUDA backend, `cuda-emu` (threads in forward
    /// order), `cuda-emu:reverse`, `cuda-emu:random:SEED`, or its dry run `cuda-emu:count`
    /// (launches counted, not run: for `cari bench --profile`). Each name is opened once per
    /// process, so tensors from two parses of one name live on one device.
    pub fn parse(name: &str) -> Result<Device> {
        if name == "cpu" {
            return Ok(Device::cpu());
        }
        static OPENED: OnceLock<Mutex<HashMap<String, Device>>> = OnceLock::new();
        let mut opened = OPENED.get_or_init(Default::default).lock().expect("device table poisoned");
        if let Some(d) = opened.get(name) {
            return Ok(d.clone());
        }
        let backend: Arc<dyn Backend> = if name == "cuda" || name.starts_with("cuda:") {
            let ordinal = name.strip_prefix("cuda:").unwrap_or("0");
            let ordinal = ordinal
                .parse()
                .map_err(|_| Error::invalid("device", format!("`{name}`: `{ordinal}` is not a device number")))?;
            Arc::new(CudaBackend::open(ordinal)?)
        } else if name == "cuda-emu" || name.starts_with("cuda-emu:") {
            emulated(name)?
        } else {
            return Err(Error::invalid(
                "device",
                format!(
                    "unknown device `{name}` (expected cpu, cuda, cuda:N or cuda-emu[:reverse|:random:SEED|:count])"
                ),
            ));
        };
        let device = Device { backend };
        opened.insert(name.to_string(), device.clone());
        Ok(device)
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub fn name(&self) -> String {
        self.backend.name()
    }

    /// [`DeviceOps::profile`](super::DeviceOps::profile).
    pub fn profile(&self) -> Option<super::Profile> {
        self.backend.profile()
    }

    pub fn same_as(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.backend, &other.backend) || self.name() == other.name()
    }
}

#[cfg(cari_emu)]
fn emulated(name: &str) -> Result<Arc<dyn Backend>> {
    use super::cuda::runtime::emulator::ThreadOrder;
    if name == "cuda-emu:count" {
        return Ok(Arc::new(CudaBackend::emulated_dry()));
    }
    let order = name.strip_prefix("cuda-emu:").map_or(Ok(ThreadOrder::Forward), ThreadOrder::parse)?;
    Ok(Arc::new(CudaBackend::emulated(order)))
}

#[cfg(not(cari_emu))]
fn emulated(name: &str) -> Result<Arc<dyn Backend>> {
    Err(Error::invalid("device", format!("`{name}`: the CUDA emulation is built on x86-64 Linux only")))
}

impl FromStr for Device {
    type Err = Error;

    /// [`Device::parse`].
    fn from_str(name: &str) -> Result<Device> {
        Device::parse(name)
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.backend.name())
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Device({})", self.backend.name())
    }
}
