//! Every WGSL variant the engine can build must parse, validate, and translate to SPIR-V
//! (Vulkan), MSL (Metal) and HLSL (DX12), so shaders keep compiling on platforms CI cannot run.
use std::collections::BTreeSet;

use granite_engine::gpu::shaders::{SHADERS, Variant, flags_used, preprocess};

fn all_variants() -> Vec<Variant> {
    let common = granite_engine::gpu::shaders::source("common").unwrap();
    let mut out = Vec::new();
    for (name, src) in SHADERS.iter().filter(|(n, _)| *n != "common") {
        let used: Vec<_> = flags_used(src)
            .union(&flags_used(common))
            .copied()
            .collect();
        for mask in 0..(1u32 << used.len()) {
            let flags: BTreeSet<_> = used
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, f)| *f)
                .collect();
            let mut consts = Vec::new();
            if flags.contains("SUBGROUPS") {
                consts.push(("SUBGROUP_SIZE", 32));
            }
            out.push(Variant {
                shader: name,
                flags,
                consts,
            });
        }
    }
    out
}

#[test]
fn preprocessor_keeps_the_right_branches() {
    let src = "a\n#if X\nb\n#if !Y\nc\n#else\nd\n#endif\n#else\ne\n#endif\nf\n";
    let on: BTreeSet<&str> = ["X"].into();
    let kept: Vec<_> = preprocess(src, &on)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    assert_eq!(kept, ["a", "b", "c", "f"]);
    let kept: Vec<_> = preprocess(src, &BTreeSet::new())
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    assert_eq!(kept, ["a", "e", "f"]);
    assert!(preprocess("#if X\n", &on).is_err());
    assert!(preprocess("#endif\n", &on).is_err());
    // `#include` pastes the file only where its branch is active; unknown names are errors.
    let inc = "#if X\n#include load_x8\n#endif\n";
    assert!(preprocess(inc, &on).unwrap().contains("fn load_x8"));
    assert!(
        !preprocess(inc, &BTreeSet::new())
            .unwrap()
            .contains("fn load_x8")
    );
    assert!(preprocess("#include no_such_file\n", &on).is_err());
}

#[test]
fn every_variant_translates_to_spirv_msl_and_hlsl() {
    let variants = all_variants();
    assert!(
        variants.len() >= 8,
        "expected several variants, found {}",
        variants.len()
    );
    for v in &variants {
        let what = format!("{} {:?}", v.shader, v.flags);
        let wgsl = v.wgsl().unwrap_or_else(|e| panic!("{what}: {e}"));
        let module = naga::front::wgsl::parse_str(&wgsl)
            .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(&wgsl)));
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{what}: validation: {}", e.emit_to_string(&wgsl)));
        assert!(!module.entry_points.is_empty(), "{what}: no entry point");

        let spv = naga::back::spv::Options {
            lang_version: (1, 3),
            ..Default::default()
        };
        naga::back::spv::write_vec(&module, &info, &spv, None)
            .unwrap_or_else(|e| panic!("{what}: SPIR-V: {e}"));

        let msl = naga::back::msl::Options {
            lang_version: (2, 4),
            fake_missing_bindings: true,
            ..Default::default()
        };
        naga::back::msl::write_string(&module, &info, &msl, &Default::default())
            .unwrap_or_else(|e| panic!("{what}: MSL: {e}"));

        let hlsl = naga::back::hlsl::Options {
            shader_model: naga::back::hlsl::ShaderModel::V6_2,
            fake_missing_bindings: true,
            ..Default::default()
        };
        let mut out = String::new();
        naga::back::hlsl::Writer::new(&mut out, &hlsl, &Default::default())
            .write(&module, &info, None)
            .unwrap_or_else(|e| panic!("{what}: HLSL: {e}"));
    }
}
