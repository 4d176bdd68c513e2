//! Work split over the machine's cores where it has more than one (and threads at all: the
//! browser's WebAssembly module runs everything on one).

/// The cores to work on, asked of the system once: `available_parallelism` reads cgroup files
/// on every call. One where there are no threads.
pub fn cores() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
    #[cfg(target_arch = "wasm32")]
    1
}

/// Runs `first` and `second`, on two threads where there are two cores, and returns both
/// results. A panic in either is the caller's panic.
pub fn join<A: Send, B: Send>(first: impl FnOnce() -> A + Send, second: impl FnOnce() -> B + Send) -> (A, B) {
    if cores() < 2 {
        return (first(), second());
    }
    std::thread::scope(|scope| {
        let later = scope.spawn(second);
        let a = first();
        let b = later.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_halves_run_and_return_in_order() {
        let data: Vec<u64> = (0..1000).collect();
        let (low, high) = super::join(|| data[..500].iter().sum::<u64>(), || data[500..].iter().sum::<u64>());
        assert_eq!((low, high), (124_750, 374_750));
    }
}
