//! How close the scoring kernel's one-column product (`dt_score` of one tag, the search's
//! exact scan) comes to the memory's speed: the dot product of a query with every row of
//! 2,000,000 synthetic 512-d embeddings stored as float32, float16 and int8 — read straight
//! from their stored form — against a plain sequential read of the same bytes (the anchor:
//! a loop that sums them, with only the hardware prefetcher's help), on one thread and on
//! two, best of five.
//!
//! ```sh
//! cargo run -p dyntag-core --example kernel_bandwidth     # --rows N (dyntag-core is optimised in dev)
//! ```

use std::hint::black_box;
use std::time::Instant;

use datafusion::arrow::datatypes::{ArrowPrimitiveType, Float16Type};
use dyntag_core::model::dataset::vectors::Vectors;
use dyntag_core::scoring::kernel::dot_rows;

type F16 = <Float16Type as ArrowPrimitiveType>::Native;

const DIM: usize = 512;
/// Rows per call, as the SQL function sees a batch.
const BATCH: usize = 8192;

fn best(mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

/// Runs `f(first row, rows)` over `rows` split evenly between `threads`.
fn split(rows: usize, threads: usize, f: impl Fn(usize, usize) + Sync) {
    std::thread::scope(|s| {
        let per = rows.div_ceil(threads);
        for t in 0..threads {
            let f = &f;
            s.spawn(move || f(t * per, per.min(rows - t * per)));
        }
    });
}

/// The anchor: every 8-byte word of `bytes` summed, eight sums at a time (vectorised).
fn read(bytes: &[u8]) -> u64 {
    let mut acc = [0u64; 8];
    for c in bytes.chunks_exact(64) {
        for (a, w) in acc.iter_mut().zip(c.chunks_exact(8)) {
            *a = a.wrapping_add(u64::from_ne_bytes(w.try_into().unwrap()));
        }
    }
    acc.iter().fold(0, |a, b| a.wrapping_add(*b))
}

fn main() {
    let rows = std::env::args()
        .skip_while(|a| a != "--rows")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000usize);
    let q: Vec<f32> = (0..DIM)
        .map(|i| ((i * 13 % 17) as f32 - 8.0) / 40.0)
        .collect();
    let f32s: Vec<f32> = (0..rows * DIM)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 1200.0)
        .collect();
    let halves: Vec<u16> = f32s.iter().map(|v| F16::from_f32(*v).to_bits()).collect();
    let codes: Vec<i8> = (0..rows * DIM)
        .map(|i| (i * 37 % 255) as u8 as i8)
        .collect();
    let scales = vec![1.0 / 127.0; rows];
    let forms: [(&str, Vectors<'_>, usize); 3] = [
        ("float32", Vectors::F32(&f32s), 4),
        ("float16", Vectors::F16(&halves), 2),
        (
            "int8",
            Vectors::I8 {
                codes: &codes,
                scales: &scales,
            },
            1,
        ),
    ];
    println!("rows={rows} dim={DIM}");
    for threads in [1, 2] {
        for (name, x, width) in &forms {
            let bytes = rows * DIM * width;
            let raw: &[u8] = match x {
                Vectors::F32(v) => bytemuck_bytes(v),
                Vectors::F16(v) => bytemuck_bytes(v),
                Vectors::I8 { codes, .. } => bytemuck_bytes(codes),
            };
            let anchor = best(|| {
                split(rows, threads, |r0, n| {
                    black_box(read(&raw[r0 * DIM * width..(r0 + n) * DIM * width]));
                })
            });
            let kernel = best(|| {
                split(rows, threads, |r0, n| {
                    for b in (r0..r0 + n).step_by(BATCH) {
                        let m = BATCH.min(r0 + n - b);
                        black_box(dot_rows(&x.slice(b, m, DIM), &q));
                    }
                })
            });
            println!(
                "threads={threads} {name:<7} kernel_rows_per_s={:.3e} kernel_gb_per_s={:.1} read_gb_per_s={:.1} ratio kernel_vs_read={:.2}",
                rows as f64 / kernel,
                bytes as f64 / kernel / 1e9,
                bytes as f64 / anchor / 1e9,
                anchor / kernel
            );
        }
    }
}

/// The bytes of a slice of plain numbers.
fn bytemuck_bytes<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: `T` is a plain number type (f32, u16, i8): every byte is initialised, and the
    // length covers exactly the slice's memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, size_of_val(v)) }
}
