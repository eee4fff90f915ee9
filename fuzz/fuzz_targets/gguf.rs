//! Bytes → the GGUF container parser in memory, then the whole GGUF loader through a real file
//! (`gguf::open`: memory map, config, tensor map, tokenizer). Neither may panic; an accepted
//! container must place every tensor inside the file, aligned, in order and sized type × shape;
//! an accepted model must read every tensor it maps; a rejected file must be named.
#![no_main]
use std::sync::OnceLock;

use granite_engine::model_files::ModelWeights;
use granite_engine::model_files::gguf::{self, container};
use granite_fuzz::{assert_names, scratch_dir, write};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static FILE: OnceLock<std::path::PathBuf> = OnceLock::new();
    let file = FILE.get_or_init(|| scratch_dir("gguf").join("model.gguf"));

    if let Ok(c) = container::parse(data) {
        let mut end = c.data_start;
        for t in &c.tensors {
            assert!(t.data.start >= end && t.data.end <= data.len(), "`{}` misplaced", t.name);
            assert_eq!((t.data.start - c.data_start) as u64 % c.alignment, 0);
            let n: u64 = t.ne.iter().product();
            assert_eq!(Some(t.data.len() as u64), t.ty.bytes_for(n), "`{}` size", t.name);
            end = t.data.end;
        }
    }
    write(file, data);
    match gguf::open(file) {
        Ok(m) => {
            let w = ModelWeights::from_gguf(m.weights);
            for spec in granite_engine::model_files::expected_tensors(&m.config) {
                let t = w.tensor(&spec.name).expect("mapped tensor");
                // Reading may fail on a non-finite value, but never panic.
                let _ = t.f32_vec();
            }
            let _ = m.tokenizer.encode("Hello <|end_of_text|> wörld 123");
        }
        Err(e) => assert_names(&e, "model.gguf"),
    }
});
