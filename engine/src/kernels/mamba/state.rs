//! Per-sequence recurrent state of one Mamba layer: conv state `[K−1, conv_dim]` and SSM state
//! `[nH, P, N]` for each of `n_slots` sequence slots, f32, with GPU-side zeroing, snapshots,
//! restore and slot-to-slot copies (all recorded, none waits).
use super::{MambaDims, u32_of, variant};
use crate::Result;
use crate::gpu::{Bind, Gpu, GpuBuffer, MemTag, Recorder, Tensor, grid, uniform};
use crate::kernels::ensure;

pub struct MambaState {
    /// `[n_slots, K−1, conv_dim]`, tagged ConvState.
    pub conv: Tensor,
    /// `[n_slots, nH, P, N]`, tagged SsmState.
    pub ssm: Tensor,
    pub n_slots: usize,
    dims: MambaDims,
}

/// A copy of one slot's conv and SSM state (cache memory, tagged like the state).
pub struct MambaSnapshot {
    pub conv: GpuBuffer,
    pub ssm: GpuBuffer,
}

uniform! {
    struct RangeParams {
        offset: u32,
        n: u32,
        src: u32,
        _p0: u32,
    }
}

impl MambaState {
    /// Zero-filled state for `n_slots` sequences. Each buffer is bound whole by the kernels, so
    /// it must fit one storage binding.
    pub fn new(gpu: &Gpu, dims: &MambaDims, n_slots: usize) -> Result<Self> {
        dims.check()?;
        ensure(n_slots > 0, || "mamba state: 0 slots".into())?;
        let conv_bytes = (n_slots * dims.conv_state_len() * 4) as u64;
        let ssm_bytes = (n_slots * dims.ssm_state_len() * 4) as u64;
        ensure(conv_bytes.max(ssm_bytes) <= gpu.max_binding, || {
            format!(
                "mamba state: {n_slots} slots need {ssm_bytes} bytes in one binding, the adapter \
                 allows {}; use fewer slots",
                gpu.max_binding
            )
        })?;
        let conv = Tensor::zeros(
            gpu,
            MemTag::ConvState,
            &[n_slots, dims.d_conv - 1, dims.conv_dim()],
            "mamba.conv_state",
        )?;
        let ssm = Tensor::zeros(
            gpu,
            MemTag::SsmState,
            &[n_slots, dims.n_heads, dims.head_dim, dims.d_state],
            "mamba.ssm_state",
        )?;
        Ok(MambaState {
            conv,
            ssm,
            n_slots,
            dims: *dims,
        })
    }

    pub fn dims(&self) -> &MambaDims {
        &self.dims
    }

    pub(crate) fn check(&self, dims: &MambaDims) -> Result<()> {
        let same = self.dims.conv_state_len() == dims.conv_state_len()
            && self.dims.ssm_state_len() == dims.ssm_state_len()
            && self.dims.conv_dim() == dims.conv_dim();
        ensure(same, || {
            format!(
                "mamba state was made for {:?}, used with {dims:?}",
                self.dims
            )
        })
    }

    pub(crate) fn check_slot(&self, slot: usize) -> Result<()> {
        ensure(slot < self.n_slots, || {
            format!("mamba state: slot {slot} of {}", self.n_slots)
        })
    }

    fn conv_bytes(&self) -> u64 {
        (self.dims.conv_state_len() * 4) as u64
    }

    fn ssm_bytes(&self) -> u64 {
        (self.dims.ssm_state_len() * 4) as u64
    }

    /// Resets `slot` to a fresh sequence (both states zero).
    pub fn zero(&self, rec: &mut Recorder, slot: usize) -> Result<()> {
        self.check_slot(slot)?;
        let (c, s) = (self.dims.conv_state_len(), self.dims.ssm_state_len());
        zero_range(rec, &self.conv.buf, slot * c, c)?;
        zero_range(rec, &self.ssm.buf, slot * s, s)
    }

    /// Resets every slot.
    pub fn zero_all(&self, rec: &mut Recorder) -> Result<()> {
        zero_range(rec, &self.conv.buf, 0, self.conv.numel())?;
        zero_range(rec, &self.ssm.buf, 0, self.ssm.numel())
    }

    /// Buffers to hold one slot's snapshot.
    pub fn alloc_snapshot(&self, gpu: &Gpu) -> Result<MambaSnapshot> {
        Ok(MambaSnapshot {
            conv: gpu.alloc(MemTag::ConvState, self.conv_bytes(), "mamba.conv_snapshot")?,
            ssm: gpu.alloc(MemTag::SsmState, self.ssm_bytes(), "mamba.ssm_snapshot")?,
        })
    }

    fn check_snapshot(&self, snap: &MambaSnapshot) -> Result<()> {
        ensure(
            snap.conv.size() >= self.conv_bytes() && snap.ssm.size() >= self.ssm_bytes(),
            || "mamba state: snapshot buffers too small for this layer".into(),
        )
    }

    /// Copies `slot` into `snap`.
    pub fn snapshot(&self, rec: &mut Recorder, slot: usize, snap: &MambaSnapshot) -> Result<()> {
        self.check_slot(slot)?;
        self.check_snapshot(snap)?;
        let (cb, sb) = (self.conv_bytes(), self.ssm_bytes());
        rec.copy(&self.conv.buf, slot as u64 * cb, &snap.conv, 0, cb);
        rec.copy(&self.ssm.buf, slot as u64 * sb, &snap.ssm, 0, sb);
        Ok(())
    }

    /// Copies `snap` back into `slot`.
    pub fn restore(&self, rec: &mut Recorder, snap: &MambaSnapshot, slot: usize) -> Result<()> {
        self.check_slot(slot)?;
        self.check_snapshot(snap)?;
        let (cb, sb) = (self.conv_bytes(), self.ssm_bytes());
        rec.copy(&snap.conv, 0, &self.conv.buf, slot as u64 * cb, cb);
        rec.copy(&snap.ssm, 0, &self.ssm.buf, slot as u64 * sb, sb);
        Ok(())
    }

    /// Copies slot `src` to slot `dst` (forking a sequence), with a kernel: wgpu cannot copy a
    /// buffer onto itself.
    pub fn copy_slot(&self, rec: &mut Recorder, src: usize, dst: usize) -> Result<()> {
        self.check_slot(src)?;
        self.check_slot(dst)?;
        if src == dst {
            return Ok(());
        }
        let (c, s) = (self.dims.conv_state_len(), self.dims.ssm_state_len());
        range_op(rec, "copy_range", &self.conv.buf, dst * c, c, src * c)?;
        range_op(rec, "copy_range", &self.ssm.buf, dst * s, s, src * s)
    }

    /// Reads one slot back to the host (blocking; tests, debugging, saving a session).
    pub fn read_slot(&self, gpu: &Gpu, slot: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        self.check_slot(slot)?;
        let (c, s) = (self.dims.conv_state_len(), self.dims.ssm_state_len());
        Ok((
            gpu.read(&self.conv.buf, (slot * c) as u64, c)?,
            gpu.read(&self.ssm.buf, (slot * s) as u64, s)?,
        ))
    }

    /// Writes one slot from the host (queued before the next submission).
    pub fn write_slot(&self, gpu: &Gpu, slot: usize, conv: &[f32], ssm: &[f32]) -> Result<()> {
        self.check_slot(slot)?;
        let (c, s) = (self.dims.conv_state_len(), self.dims.ssm_state_len());
        ensure(conv.len() == c && ssm.len() == s, || {
            format!(
                "mamba state: slot data has {}+{} floats, need {c}+{s}",
                conv.len(),
                ssm.len()
            )
        })?;
        gpu.write(
            &self.conv.buf,
            (slot * c * 4) as u64,
            bytemuck::cast_slice(conv),
        );
        gpu.write(
            &self.ssm.buf,
            (slot * s * 4) as u64,
            bytemuck::cast_slice(ssm),
        );
        Ok(())
    }
}

fn zero_range(rec: &mut Recorder, buf: &GpuBuffer, offset: usize, n: usize) -> Result<()> {
    range_op(rec, "zero_range", buf, offset, n, 0)
}

fn range_op(
    rec: &mut Recorder,
    entry: &'static str,
    buf: &GpuBuffer,
    offset: usize,
    n: usize,
    src: usize,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let gpu = rec.gpu();
    let p = RangeParams {
        offset: u32_of(offset, "state offset")?,
        n: u32_of(n, "state length")?,
        src: u32_of(src, "state offset")?,
        _p0: 0,
    };
    let v = variant(gpu, "mamba_state", false, &[]);
    rec.dispatch(
        &gpu.pipeline(&v, entry)?,
        "mamba_state",
        &p,
        vec![Bind::write(buf)],
        grid(gpu, p.n.div_ceil(256)),
    );
    Ok(())
}
