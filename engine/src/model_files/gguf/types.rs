//! The ggml tensor types a GGUF file may declare (spec §1.3): an explicit whitelist with the
//! block geometry needed to size tensors, and which of them this engine can decode.
use std::fmt;

/// A ggml tensor type id known to the parser. Unknown and removed ids are rejected by
/// [`GgmlType::from_id`], so a file never reaches the size arithmetic with a type we cannot size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GgmlType {
    pub id: u32,
    pub name: &'static str,
    /// Elements per block (1 for plain floats and ints).
    pub block: u64,
    /// Bytes per block.
    pub bytes: u64,
}

/// (id, name, block elements, block bytes), from ggml's type table. Ids missing here (4, 5,
/// 31–33, 36–38: removed types; ≥ 40: newer than this parser) are errors.
const TABLE: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
];

impl GgmlType {
    pub const F32: u32 = 0;
    pub const F16: u32 = 1;
    pub const Q4_0: u32 = 2;
    pub const Q8_0: u32 = 8;
    pub const Q4_K: u32 = 12;
    pub const Q5_K: u32 = 13;
    pub const Q6_K: u32 = 14;
    pub const BF16: u32 = 30;

    /// The type with this id, or `None` for an unknown or removed id.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE
            .iter()
            .find(|t| t.0 == id)
            .map(|&(id, name, block, bytes)| GgmlType {
                id,
                name,
                block,
                bytes,
            })
    }

    /// Whether the host dequantiser (and so the f16 upload) handles this type.
    pub fn is_decodable(&self) -> bool {
        matches!(
            self.id,
            Self::F32
                | Self::F16
                | Self::BF16
                | Self::Q8_0
                | Self::Q4_0
                | Self::Q4_K
                | Self::Q5_K
                | Self::Q6_K
        )
    }

    /// Plain float types (the only ones allowed for norms, SSM vectors and the router).
    pub fn is_float(&self) -> bool {
        matches!(self.id, Self::F32 | Self::F16 | Self::BF16)
    }

    /// Bytes of `n` elements, `None` when `n` is not a whole number of blocks or overflows.
    pub fn bytes_for(&self, n: u64) -> Option<u64> {
        if !n.is_multiple_of(self.block) {
            return None;
        }
        (n / self.block).checked_mul(self.bytes)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_and_future_ids_are_unknown() {
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 40, 1000, u32::MAX] {
            assert!(GgmlType::from_id(id).is_none(), "id {id}");
        }
        let q6 = GgmlType::from_id(14).unwrap();
        assert_eq!((q6.name, q6.block, q6.bytes), ("Q6_K", 256, 210));
        assert_eq!(q6.bytes_for(512), Some(420));
        assert_eq!(q6.bytes_for(100), None);
    }
}
