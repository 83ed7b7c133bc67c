//! `ops::candle_elementwise_on_caller` (one test: this file's process is
//! the only one touching its environment, and the test runs alone in it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use candle_core::{Device, Tensor};
use salience_explain::ops::{candle_elementwise_on_caller, cpu_threads::CANDLE_NUM_THREADS};

#[test]
fn sets_one_thread_once_and_respects_a_users_choice() {
    // SAFETY: the only test of this binary; no other thread reads the environment.
    unsafe { std::env::remove_var(CANDLE_NUM_THREADS) };
    // SAFETY: the only test of this binary; no other thread reads the environment.
    assert!(unsafe { candle_elementwise_on_caller() });
    assert_eq!(std::env::var(CANDLE_NUM_THREADS).unwrap(), "1");
    // Already set (by us or by the user): left as it is.
    // SAFETY: the only test of this binary; no other thread reads the environment.
    unsafe { std::env::set_var(CANDLE_NUM_THREADS, "3") };
    assert!(!unsafe { candle_elementwise_on_caller() });
    assert_eq!(std::env::var(CANDLE_NUM_THREADS).unwrap(), "3");
    // A parallel-sized elementwise op (≥ 64 Ki elements) still computes the same
    // values (candle read the variable now, at its first such op).
    let n = 70_000usize;
    let a = Tensor::arange(0f32, n as f32, &Device::Cpu).unwrap();
    let b = (a.clone() * 0.5).unwrap().exp().unwrap();
    let c = (&a + &b).unwrap().to_vec1::<f32>().unwrap();
    for (i, v) in c.iter().enumerate().step_by(997) {
        let x = i as f32;
        assert_eq!(*v, x + (x * 0.5).exp());
    }
}
