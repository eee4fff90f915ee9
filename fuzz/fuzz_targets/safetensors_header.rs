//! Bytes → the engine's safetensors reader, both in memory (`safetensors::parse`) and through a
//! real file (`SafetensorsFile::open`, memory-mapped). Both must agree; an accepted file must
//! satisfy every layout invariant; a rejected one must name the file.
#![no_main]
use std::path::Path;
use std::sync::OnceLock;

use granite_engine::model_files::safetensors::{self, SafetensorsFile};
use granite_fuzz::{assert_names, scratch_dir, write};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static FILE: OnceLock<std::path::PathBuf> = OnceLock::new();
    let file = FILE.get_or_init(|| scratch_dir("st").join("model.safetensors"));

    let parsed = safetensors::parse(data, Path::new("model.safetensors"));
    write(file, data);
    let opened = SafetensorsFile::open(file);
    match (&parsed, &opened) {
        (Ok(tensors), Ok(f)) => {
            assert_eq!(tensors.as_slice(), f.tensors(), "parse and open disagree");
            let header_end = 8 + u64::from_le_bytes(data[..8].try_into().unwrap()) as usize;
            let mut order: Vec<_> = tensors.iter().collect();
            order.sort_by_key(|t| (t.start, t.len));
            let mut pos = header_end;
            for t in order {
                assert_eq!(t.start, pos, "tensor `{}` does not tile the data", t.name);
                let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                assert_eq!(
                    numel.and_then(|n| n.checked_mul(t.dtype.size())),
                    Some(t.len)
                );
                assert_eq!(t.numel(), numel.unwrap());
                assert_eq!(f.data(t).len(), t.len, "data of `{}`", t.name);
                assert!(std::ptr::eq(
                    f.info(&t.name).unwrap(),
                    f.info(&t.name).unwrap()
                ));
                pos += t.len;
            }
            assert_eq!(pos, data.len(), "accepted a file with trailing bytes");
        }
        (Err(a), Err(b)) => {
            assert_names(a, "model.safetensors");
            assert_names(b, "model.safetensors");
            assert_eq!(
                a.to_string(),
                b.to_string()
                    .replace(&file.display().to_string(), "model.safetensors"),
                "parse and open give different errors"
            );
        }
        _ => panic!(
            "parse and open disagree: {:?} vs {:?}",
            parsed.as_ref().map(|_| ()),
            opened.as_ref().map(|_| ())
        ),
    }
});
