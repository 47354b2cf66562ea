//! `Device`: a cheap handle on a backend. Model code holds devices, never backends.

use super::cpu::CpuBackend;
use super::Backend;
use crate::error::{Error, Result};
use std::fmt;
use std::sync::{Arc, OnceLock};

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

    /// Parses a device name as given on the command line.
    pub fn parse(name: &str) -> Result<Device> {
        match name {
            "cpu" => Ok(Device::cpu()),
            n if n == "cuda" || n.starts_with("cuda:") => Err(Error::invalid(
                "--device",
                format!("`{n}`: this build has no CUDA backend yet; use `cpu`"),
            )),
            other => Err(Error::invalid("--device", format!("unknown device `{other}` (expected `cpu`)"))),
        }
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub fn name(&self) -> String {
        self.backend.name()
    }

    pub fn same_as(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.backend, &other.backend) || self.name() == other.name()
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
