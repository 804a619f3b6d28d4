/// A row-major block of `len()` embeddings of dimension `dim()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    dim: usize,
    data: Vec<f32>,
}

impl Embeddings {
    /// Wraps `data` (row-major, `data.len()` a multiple of `dim`).
    ///
    /// # Panics
    /// If `dim` is zero or does not divide `data.len()`; callers build both from one shape.
    pub fn new(dim: usize, data: Vec<f32>) -> Self {
        assert!(
            dim > 0 && data.len().is_multiple_of(dim),
            "embedding block shape"
        );
        Self { dim, data }
    }

    /// The dimension of each embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of embeddings.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether there are no embeddings.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The `i`-th embedding.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// All values, row-major.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Iterates over the rows.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim)
    }
}

/// Scales `v` to unit L2 norm in place; a zero vector stays zero.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_unit_length() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut z = vec![0.0, 0.0];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
    }

    #[test]
    fn rows_follow_dimension() {
        let e = Embeddings::new(2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(e.len(), 3);
        assert_eq!(e.row(1), &[3.0, 4.0]);
        assert_eq!(e.rows().count(), 3);
    }
}
