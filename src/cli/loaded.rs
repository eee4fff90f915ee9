//! A model folder opened on the GPU with its tokenizer, with load warnings printed.
use granite_engine::model::Model;
use granite_engine::model_files::Tokenizer;

use super::gpu_args::GpuArgs;
use super::model_arg::ModelArg;

pub struct Loaded {
    pub model: Model,
    pub tokenizer: Tokenizer,
}

impl Loaded {
    pub fn open(model: &ModelArg, gpu: &GpuArgs) -> anyhow::Result<Loaded> {
        let dir = model.dir()?;
        let gpu = gpu.open()?;
        let model = Model::load(gpu, &dir, true)?;
        for (name, n) in &model.upload_report.overflows {
            eprintln!(
                "warning: {name}: {n} values exceed the f16 range and were saturated to ±65504"
            );
        }
        let tokenizer = Tokenizer::load(&dir, Some(&model.cfg))?;
        Ok(Loaded { model, tokenizer })
    }

    /// Context for a session when the user gives none: the model's limit, capped to keep the
    /// cache allocation modest.
    pub fn default_context(&self) -> usize {
        self.model.context_limit().min(8192)
    }
}
