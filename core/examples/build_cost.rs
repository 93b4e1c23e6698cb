//! Host cost of building one decode step's graph (no evaluation): model forward and
//! sampler separately. `cargo run --release -p murmur-core --example build_cost -- MODEL_DIR`
use std::time::Instant;

use murmur_core::llm::load::load_safetensors_dir;
use murmur_core::llm::models;
use murmur_core::llm::sampler::{Sampler, SamplerConfig};
use murmur_core::mlx::{Array, transforms::eval};

fn main() {
    let dir = std::env::args().nth(1).expect("model dir");
    let (config, mut w) = load_safetensors_dir(std::path::Path::new(&dir)).unwrap();
    let model = models::build(&config, &mut w).unwrap();
    let mut cache = model.new_cache();
    let y = Array::from_slice(&[1000i32], &[1, 1]);
    let l = model.forward(&y, &mut cache, false).unwrap();
    eval(cache.iter().flat_map(|c| c.state())).unwrap();
    eval([&l]).unwrap();
    let n = 50;
    let t = Instant::now();
    let mut outs = Vec::new();
    for _ in 0..n {
        outs.push(model.forward(&y, &mut cache, false).unwrap());
    }
    let fwd = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    let mut s = Sampler::new(SamplerConfig {
        temperature: 0.7,
        top_p: 0.8,
        repetition_penalty: 1.15,
        seed: Some(0),
        ..Default::default()
    })
    .unwrap();
    let logits = outs[0].index_last();
    let recent = Array::from_slice(&[1i32, 2, 3], &[3]);
    let t = Instant::now();
    for _ in 0..n {
        let _ = s.sample(&logits, Some(&recent)).unwrap();
    }
    let smp = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    let t = Instant::now();
    for _ in 0..n * 100 {
        let _ = logits.add(&logits).unwrap();
    }
    let op = t.elapsed().as_secs_f64() * 1e6 / (n * 100) as f64;
    let t = Instant::now();
    for _ in 0..n * 10 {
        let _ = murmur_core::nn::swiglu(&logits, &logits).unwrap();
    }
    let sw = t.elapsed().as_secs_f64() * 1e6 / (n * 10) as f64;
    let t = Instant::now();
    for _ in 0..n * 10 {
        let _ = murmur_core::mlx::fast::rms_norm(&logits, None, 1e-6).unwrap();
    }
    let rms = t.elapsed().as_secs_f64() * 1e6 / (n * 10) as f64;
    let mut kv = murmur_core::nn::KvCache::new();
    let k = Array::from_slice(&[0f32; 64], &[1, 1, 1, 64]);
    let t = Instant::now();
    for _ in 0..n * 10 {
        let _ = kv.update_and_fetch(k.clone(), k.clone()).unwrap();
    }
    let kvu = t.elapsed().as_secs_f64() * 1e6 / (n * 10) as f64;
    let x = Array::from_slice(&vec![0f32; 512], &[1, 1, 512]);
    let bench = |name: &str, f: &dyn Fn() -> Array| {
        let t = Instant::now();
        for _ in 0..500 {
            let _ = f();
        }
        println!(
            "  {name}: {:.2} us",
            t.elapsed().as_secs_f64() * 1e6 / 500.0
        );
    };
    use murmur_core::mlx::ops::indexing::TryIndexOp;
    let w = Array::from_slice(&vec![0u32; 1024 * 64], &[1024, 64]);
    let sc = Array::from_slice(&vec![0f32; 1024 * 8], &[1024, 8]);
    bench("quantized_matmul", &|| {
        murmur_core::mlx::ops::quantized_matmul(&x, &w, &sc, &sc, true, 64, 4).unwrap()
    });
    bench("reshape", &|| x.reshape(&[1, 1, 8, 64]).unwrap());
    let x4 = x.reshape(&[1, 1, 8, 64]).unwrap();
    bench("transpose", &|| x4.transpose_axes(&[0, 2, 1, 3]).unwrap());
    let q = x4.transpose_axes(&[0, 2, 1, 3]).unwrap();
    bench("rope", &|| {
        murmur_core::mlx::fast::rope(&q, 64, false, 1e6f32, 1.0, 5, None).unwrap()
    });
    let kk = Array::from_slice(&vec![0f32; 8 * 64 * 40], &[1, 8, 40, 64]);
    bench("sdpa", &|| {
        murmur_core::mlx::fast::scaled_dot_product_attention(&q, &kk, &kk, 0.1, None, None).unwrap()
    });
    bench("slice", &|| kk.try_index((.., .., ..20)).unwrap());
    bench("as_dtype", &|| {
        x.as_dtype(murmur_core::mlx::Dtype::Bfloat16).unwrap()
    });
    println!("swiglu {sw:.2} us, rms_norm {rms:.2} us, kv update {kvu:.2} us");
    println!("forward build {fwd:.3} ms/step, sampler build {smp:.3} ms/step, one add {op:.2} us");
}

trait Last {
    fn index_last(&self) -> Array;
}
impl Last for Array {
    fn index_last(&self) -> Array {
        use murmur_core::mlx::ops::indexing::IndexOp;
        self.index((.., -1, ..))
    }
}
