//! Kernel parameter blocks (binding 0, `var<uniform> p: Params`) that describe their own layout.
//!
//! Each launcher's `Params` struct mirrors a WGSL struct byte for byte. Declaring it through
//! [`uniform!`] lists its fields (name, offset, size, scalar type) from the struct definition
//! itself, so the interface tests (`testing::interface`) can compare the Rust side with naga's
//! layout of the WGSL side instead of trusting a hand-kept copy.

/// A parameter block a dispatch uploads: plain bytes plus the layout of its fields.
pub trait Uniform: bytemuck::Pod {
    const FIELDS: &'static [Field];
}

/// One field of a [`Uniform`], as `#[repr(C)]` lays it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
    /// The scalar type of the field, or of its elements (arrays).
    pub scalar: Scalar,
}

/// The scalar types a parameter block holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scalar {
    U32,
    I32,
    F32,
}

/// Types a [`Uniform`] field may have: 32-bit scalars and arrays of them.
pub trait FieldType {
    const SCALAR: Scalar;
}

impl FieldType for u32 {
    const SCALAR: Scalar = Scalar::U32;
}
impl FieldType for i32 {
    const SCALAR: Scalar = Scalar::I32;
}
impl FieldType for f32 {
    const SCALAR: Scalar = Scalar::F32;
}
impl<T: FieldType, const N: usize> FieldType for [T; N] {
    const SCALAR: Scalar = T::SCALAR;
}

/// Declares a `#[repr(C)]`, `Pod` parameter struct and its [`Uniform`] layout from one field
/// list, so the two cannot drift apart.
macro_rules! uniform {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident: $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        impl $crate::gpu::Uniform for $name {
            const FIELDS: &'static [$crate::gpu::Field] = &[$($crate::gpu::Field {
                name: stringify!($field),
                offset: core::mem::offset_of!($name, $field),
                size: core::mem::size_of::<$ty>(),
                scalar: <$ty as $crate::gpu::FieldType>::SCALAR,
            }),*];
        }
    };
}
pub(crate) use uniform;
