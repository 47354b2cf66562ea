//! The CUDA backend's plumbing: the kernel table, launch validation, device errors, and
//! (with `CARI_TEST_CUDA=1` on a GPU machine) loading every module on the real device.

use cari::backend::cuda::runtime::kernels::{Kernel, ALL, MODULES};
use cari::backend::cuda::runtime::launch::Launch;
use cari::backend::Device;
use cari::tensor::Tensor;

#[test]
fn kernel_table_names_each_kernel_once_and_every_module_has_kernels() {
    let mut names: Vec<&str> = ALL.iter().map(|k| k.name).collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "duplicate kernel names");
    for m in MODULES {
        assert!(ALL.iter().any(|k| k.module == m.name), "module `{}` declares no kernel", m.name);
        let text = m.self_contained();
        assert!(!text.contains("#include \""), "module `{}` keeps an include NVRTC can't resolve", m.name);
    }
}

#[cfg(cari_emu)]
#[test]
fn every_kernel_resolves_in_the_emulator() {
    use cari::backend::cuda::runtime::emulator::resolves;
    let missing: Vec<&str> = ALL.iter().filter(|k| !resolves(k.name)).map(|k| k.name).collect();
    assert!(missing.is_empty(), "not in the emulator's registry: {missing:?}");
}

#[test]
fn every_module_loads_on_the_real_gpu() {
    if std::env::var_os("CARI_TEST_CUDA").is_none_or(|v| v != "1") {
        eprintln!("skipping: set CARI_TEST_CUDA=1 on a machine with a GPU");
        return;
    }
    let driver = cari::backend::cuda::runtime::driver::CudaDriver::open(0).unwrap();
    driver.load_all().unwrap();
}

fn some_kernel() -> Kernel {
    cari::backend::cuda::runtime::kernels::FILL_F32
}

#[test]
fn launches_that_break_the_kernel_signature_or_hardware_limits_are_refused() {
    let k = some_kernel();
    let full = || Launch::linear(k, 10, 256).ptr(0).f32(1.0).size(10);
    assert!(full().validate("fill", "cuda-emu").is_ok());
    let err = Launch::linear(k, 10, 256).ptr(0).f32(1.0).validate("fill", "cuda-emu").unwrap_err().to_string();
    assert!(err.contains("fill_f32") && err.contains("3 arguments") && err.contains("cuda-emu"), "{err}");
    let err = Launch::linear(k, 10, 256).ptr(0).i32(1).size(10).validate("fill", "cuda-emu").unwrap_err().to_string();
    assert!(err.contains("argument 1"), "{err}");
    let mut big = full();
    big.block = [2048, 1, 1];
    assert!(big.validate("fill", "cuda-emu").unwrap_err().to_string().contains("block"));
    let err = full().shared(1 << 20).validate("fill", "cuda-emu").unwrap_err().to_string();
    assert!(err.contains("shared memory"), "{err}");
}

#[test]
fn device_names_are_checked() {
    let err = Device::parse("cuda:x").err().unwrap().to_string();
    assert!(err.contains("cuda:x"), "{err}");
    let err = Device::parse("cuda-emu:sideways").err().unwrap().to_string();
    assert!(err.contains("sideways"), "{err}");
}

#[cfg(cari_emu)]
#[test]
fn storage_from_another_device_is_an_error_naming_op_and_device() {
    let emu = Device::parse("cuda-emu").unwrap();
    let on_cpu = Tensor::from_vec(vec![1.0, -2.0], [2], &Device::cpu()).unwrap();
    let err = emu.backend().relu(on_cpu.storage()).err().unwrap().to_string();
    assert!(err.contains("relu") && err.contains("cuda-emu") && err.contains("CPU"), "{err}");
    let on_emu = on_cpu.to_device(&emu).unwrap();
    let err = Device::cpu().backend().relu(on_emu.storage()).err().unwrap().to_string();
    assert!(err.contains("relu") && err.contains("cuda-emu"), "{err}");
    assert_eq!(on_emu.to_vec().unwrap(), vec![1.0, -2.0]);
}

#[cfg(cari_emu)]
#[test]
fn running_out_of_device_memory_is_an_error_naming_op_and_device() {
    let emu = Device::parse("cuda-emu").unwrap();
    let err = emu.backend().zeros(1 << 58).expect_err("2^60 bytes cannot be allocated").to_string();
    assert!(err.contains("zeros") && err.contains("cuda-emu") && err.contains("out of memory"), "{err}");
}
