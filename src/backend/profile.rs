//! What a device did: kernel launches (per kernel, with the bytes of the buffers each
//! launch was handed), device allocations and frees, copies between host and device, and
//! waits. Counted by the CUDA backends for `cari bench --profile` and the launch-count
//! tests; the CPU backend counts nothing.

use std::collections::BTreeMap;
use std::fmt::Write;

/// One kernel's share of a [`Profile`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounts {
    pub launches: u64,
    /// The sizes of the device buffers the launches' pointer arguments point into, summed:
    /// what the launches may read and write (an upper bound of their memory traffic).
    pub buffer_bytes: u64,
    /// Their arithmetic as the launchers count it (GEMMs: 2 per multiply-add; other
    /// kernels, memory-bound, 0).
    pub flops: u64,
}

/// Counts since the device was opened; [`Profile::since`] gives those of a stretch of work.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub kernels: BTreeMap<&'static str, KernelCounts>,
    pub allocations: u64,
    pub allocated_bytes: u64,
    pub frees: u64,
    /// Device → host copies: each waits for every launch before it.
    pub reads: u64,
    pub read_bytes: u64,
    /// Host → device copies, queued through pinned memory: the host does not wait.
    pub writes: u64,
    pub written_bytes: u64,
    /// Explicit waits for the device.
    pub synchronizations: u64,
    /// Replays of captured graphs (one host call each), and the kernel launches they ran
    /// (counted in `kernels` too, which holds every kernel run).
    pub graph_replays: u64,
    pub replayed_launches: u64,
}

impl Profile {
    /// Every kernel run, launched by the host or by a graph replay.
    pub fn launches(&self) -> u64 {
        self.kernels.values().map(|k| k.launches).sum()
    }

    /// The kernels the host launched one by one (outside graph replays).
    pub fn host_launches(&self) -> u64 {
        self.launches() - self.replayed_launches
    }

    /// The times the host waited for the device: every read and every explicit
    /// synchronisation.
    pub fn host_syncs(&self) -> u64 {
        self.reads + self.synchronizations
    }

    /// The counts of the work done between `earlier` (a snapshot of the same device) and this.
    pub fn since(&self, earlier: &Profile) -> Profile {
        let mut kernels = BTreeMap::new();
        for (&name, k) in &self.kernels {
            let before = earlier.kernels.get(name).copied().unwrap_or_default();
            if k.launches > before.launches {
                let counts = KernelCounts {
                    launches: k.launches - before.launches,
                    buffer_bytes: k.buffer_bytes - before.buffer_bytes,
                    flops: k.flops - before.flops,
                };
                kernels.insert(name, counts);
            }
        }
        Profile {
            kernels,
            allocations: self.allocations - earlier.allocations,
            allocated_bytes: self.allocated_bytes - earlier.allocated_bytes,
            frees: self.frees - earlier.frees,
            reads: self.reads - earlier.reads,
            read_bytes: self.read_bytes - earlier.read_bytes,
            writes: self.writes - earlier.writes,
            written_bytes: self.written_bytes - earlier.written_bytes,
            synchronizations: self.synchronizations - earlier.synchronizations,
            graph_replays: self.graph_replays - earlier.graph_replays,
            replayed_launches: self.replayed_launches - earlier.replayed_launches,
        }
    }

    /// A summary line per kind of event and a markdown table of the kernels (most launched
    /// first), every count divided by `per` (the steps or batches the profile covers).
    pub fn table(&self, per: u64) -> String {
        let per = per.max(1) as f64;
        let each = |n: u64| n as f64 / per;
        let mib = |b: u64| b as f64 / per / (1024.0 * 1024.0);
        let mut out = String::new();
        let _ = writeln!(out, "host synchronisations: {:.1}", each(self.host_syncs()));
        let _ = writeln!(out, "  device→host reads:   {:.1} ({:.3} MiB)", each(self.reads), mib(self.read_bytes));
        let _ = writeln!(out, "  synchronize calls:   {:.1}", each(self.synchronizations));
        let _ = writeln!(
            out,
            "host→device writes, queued without a wait: {:.1} ({:.3} MiB)",
            each(self.writes),
            mib(self.written_bytes)
        );
        let _ = writeln!(
            out,
            "device allocations: {:.1} ({:.1} MiB), frees: {:.1}",
            each(self.allocations),
            mib(self.allocated_bytes),
            each(self.frees)
        );
        let total = self.launches();
        let flops: u64 = self.kernels.values().map(|k| k.flops).sum();
        let _ = writeln!(out, "GEMM arithmetic: {:.2} GFLOP", flops as f64 / per / 1e9);
        let _ = writeln!(out, "kernel launches: {:.1} ({} kernels)", each(total), self.kernels.len());
        let _ = writeln!(
            out,
            "  launched by the host: {:.1}; in {:.1} graph replays: {:.1}\n",
            each(self.host_launches()),
            each(self.graph_replays),
            each(self.replayed_launches)
        );
        let _ = writeln!(out, "| kernel | launches | share | buffers handed (MiB) | GFLOP |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        let mut rows: Vec<_> = self.kernels.iter().collect();
        rows.sort_by(|a, b| b.1.launches.cmp(&a.1.launches).then(a.0.cmp(b.0)));
        for (name, k) in rows {
            let share = 100.0 * k.launches as f64 / total.max(1) as f64;
            let gflop = k.flops as f64 / per / 1e9;
            let _ = writeln!(
                out,
                "| `{name}` | {:.1} | {share:.1}% | {:.1} | {gflop:.2} |",
                each(k.launches),
                mib(k.buffer_bytes)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(launches: u64, reads: u64) -> Profile {
        let mut kernels = BTreeMap::new();
        kernels.insert("fill_f32", KernelCounts { launches, buffer_bytes: 64 * launches, flops: 0 });
        Profile { kernels, reads, read_bytes: 4 * reads, writes: 1, synchronizations: 2, ..Profile::default() }
    }

    #[test]
    fn a_stretch_of_work_is_the_difference_of_two_snapshots() {
        let (before, after) = (profile(3, 1), profile(10, 5));
        let d = after.since(&before);
        assert_eq!(d.kernels["fill_f32"], KernelCounts { launches: 7, buffer_bytes: 448, flops: 0 });
        assert_eq!((d.reads, d.read_bytes, d.writes, d.synchronizations), (4, 16, 0, 0));
        assert_eq!((d.launches(), d.host_syncs()), (7, 4));
        // A kernel not launched in between is left out.
        assert!(after.since(&after).kernels.is_empty());
    }

    #[test]
    fn the_table_divides_by_the_steps() {
        let t = profile(10, 4).table(2);
        assert!(
            t.contains("host synchronisations: 3.0") && t.contains("| `fill_f32` | 5.0 | 100.0% | 0.0 | 0.00 |"),
            "{t}"
        );
    }
}
