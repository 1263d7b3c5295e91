//! The hostile suite on tokio, with a counting allocator for its memory
//! bounds.

s2_conformance::counting_allocator!(ALLOCATOR);

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

s2_conformance::hostile_tests!(s2_tokio::TokioRuntime, block_on, ALLOCATOR);
