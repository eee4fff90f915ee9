//! The routed mixture of experts' router on the GPU against the CPU reference: top-k with exact
//! and near ties, at awkward sizes.
use granite_engine::gpu::{Gpu, MemTag, Recorder, Tensor};
use granite_engine::kernels::moe::router_topk;
use granite_engine::reference::moe::router_topk as cpu_topk;
use granite_engine::testing::{Rng, assert_close, for_each_path, poison};

fn check_topk(gpu: &Gpu, path: &str, logits: &[f32], n_tok: usize, e: usize, k: usize) {
    let lt = Tensor::from_f32(gpu, MemTag::Scratch, &[n_tok, e], logits, "logits").unwrap();
    let ids = gpu
        .alloc(MemTag::Scratch, (n_tok * k * 4) as u64, "ids")
        .unwrap();
    let gates = gpu
        .alloc(MemTag::Scratch, (n_tok * k * 4) as u64, "gates")
        .unwrap();
    poison(gpu, &ids);
    poison(gpu, &gates);
    let mut rec = Recorder::new(gpu);
    router_topk(&mut rec, lt.rows(e, 0), n_tok, e, k, &ids, &gates).unwrap();
    rec.run().unwrap();
    let got_ids: Vec<u32> = gpu.read(&ids, 0, n_tok * k).unwrap();
    let got_gates: Vec<f32> = gpu.read(&gates, 0, n_tok * k).unwrap();
    for t in 0..n_tok {
        let (want_ids, want_gates) = cpu_topk(&logits[t * e..(t + 1) * e], k);
        assert_eq!(
            &got_ids[t * k..(t + 1) * k],
            &want_ids[..],
            "top-{k} of {:?} [{path}]",
            &logits[t * e..(t + 1) * e]
        );
        assert_close(
            &format!("gates E={e} k={k} t={t} [{path}]"),
            &got_gates[t * k..(t + 1) * k],
            &want_gates,
            1e-6,
        );
    }
}

#[test]
fn router_topk_matches_cpu_including_ties() {
    let up = |v: f32| f32::from_bits(v.to_bits() + 1); // next float up (v > 0)
    for_each_path(|path, gpu| {
        // Exact ties go to the lower index; one-ulp differences are honoured; −0 < +0.
        let rows: Vec<Vec<f32>> = vec![
            vec![1.0, 1.0, 1.0, 1.0, 1.0],
            vec![0.5, up(0.5), 0.5, up(0.5), -3.0],
            vec![-0.0, 0.0, -1.0, -0.0, 0.0],
            vec![-2.0, -2.0, -1.0, -1.0, -2.0],
            vec![3.0, 2.0, 1.0, 0.0, -1.0],
            vec![-1.0, 0.0, 1.0, 2.0, 3.0],
        ];
        let logits: Vec<f32> = rows.concat();
        for k in 1..=5 {
            check_topk(gpu, path, &logits, rows.len(), 5, k);
        }
        // Random, with values drawn from a small set so ties are frequent.
        let mut rng = Rng::new(3);
        for &(e, k, n_tok) in &[
            (3usize, 1usize, 1usize),
            (9, 3, 67),
            (64, 8, 130),
            (72, 10, 5),
            // More experts and slots than the 64 invocations of a workgroup.
            (130, 70, 3),
        ] {
            let logits: Vec<f32> = (0..n_tok * e)
                .map(|_| (rng.uniform() * 4.0).round() * 0.25)
                .collect();
            check_topk(gpu, path, &logits, n_tok, e, k);
            let logits = rng.vec(n_tok * e, 3.0);
            check_topk(gpu, path, &logits, n_tok, e, k);
        }
    });
}
