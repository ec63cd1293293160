//! Emulator and frame-differ benchmarks (see docs/benchmarks.md for figures and commands).

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moshkit_core::display::new_frame;
use moshkit_core::terminal::Terminal;

const SIZE: usize = 1 << 20;

fn plain_ascii() -> Vec<u8> {
    let line = b"The quick brown fox jumps over the lazy dog; 0123456789 -- plain ASCII text.\r\n";
    line.iter().copied().cycle().take(SIZE).collect()
}

fn coloured() -> Vec<u8> {
    // `ls --color`-like output: a colour change every word or two.
    let mut out = Vec::with_capacity(SIZE + 256);
    let words = [
        "src",
        "target",
        "Cargo.toml",
        "README.md",
        "build.sh",
        "docs",
        "a.out",
    ];
    let colours = [
        "\x1b[0m",
        "\x1b[01;34m",
        "\x1b[01;32m",
        "\x1b[38;5;208m",
        "\x1b[1;4;31m",
    ];
    let mut i = 0usize;
    while out.len() < SIZE {
        out.extend_from_slice(colours[i % colours.len()].as_bytes());
        out.extend_from_slice(words[i % words.len()].as_bytes());
        out.extend_from_slice(b"\x1b[0m  ");
        if i % 6 == 5 {
            out.extend_from_slice(b"\r\n");
        }
        i += 1;
    }
    out
}

fn redraw() -> Vec<u8> {
    // A top-like full-screen redraw: cursor addressing, erase to end of line, SGR per field.
    let mut out = Vec::with_capacity(SIZE + 4096);
    let mut frame = 0usize;
    while out.len() < SIZE {
        out.extend_from_slice(b"\x1b[H\x1b[?25l");
        for y in 1..=24 {
            out.extend_from_slice(
                format!(
                    "\x1b[{y};1H\x1b[7m{:5}\x1b[m \x1b[1mroot\x1b[m {:6.1} {:5.1} \x1b[32m{:>9}\x1b[m proc{}\x1b[K",
                    y * 37 + frame,
                    (frame * y) as f64 / 7.0,
                    y as f64 / 3.0,
                    frame * 13 + y,
                    y
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(b"\x1b[?25h");
        frame += 1;
    }
    out
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("terminal/feed");
    for (name, input) in [
        ("plain_ascii", plain_ascii()),
        ("coloured", coloured()),
        ("redraw", redraw()),
    ] {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(name, |b| {
            let mut t = Terminal::new(80, 24).unwrap();
            b.iter(|| {
                t.feed(black_box(&input));
            })
        });
    }
    g.finish();
}

fn screen(seed: usize) -> Terminal {
    let mut t = Terminal::new(80, 24).unwrap();
    for y in 0..24 {
        let line = format!(
            "\x1b[{};1H\x1b[3{}m{:04} some text on this line {}\x1b[0m and more words {:>20}",
            y + 1,
            (y + seed) % 8,
            y + seed,
            seed,
            y * seed
        );
        t.feed(line.as_bytes());
    }
    t
}

fn diff(c: &mut Criterion) {
    let mut g = c.benchmark_group("display/new_frame");
    let a = screen(1);
    let b = screen(2);
    g.bench_function("full_screen_change", |bch| {
        bch.iter(|| new_frame(true, black_box(a.framebuffer()), black_box(b.framebuffer())))
    });
    let mut one = a.clone();
    one.feed(b"\x1b[12;40HX");
    g.bench_function("one_cell_change", |bch| {
        bch.iter(|| {
            new_frame(
                true,
                black_box(a.framebuffer()),
                black_box(one.framebuffer()),
            )
        })
    });
    let mut scrolled = a.clone();
    scrolled.feed(b"\x1b[24;1H\r\nnew bottom line");
    g.bench_function("scroll_one_line", |bch| {
        bch.iter(|| {
            new_frame(
                true,
                black_box(a.framebuffer()),
                black_box(scrolled.framebuffer()),
            )
        })
    });
    g.bench_function("initial_repaint", |bch| {
        bch.iter(|| {
            new_frame(
                false,
                black_box(a.framebuffer()),
                black_box(b.framebuffer()),
            )
        })
    });
    g.finish();
    // Output sizes, printed once for docs/benchmarks.md.
    for (name, last, new) in [
        ("full_screen_change", &a, &b),
        ("one_cell_change", &a, &one),
        ("scroll_one_line", &a, &scrolled),
    ] {
        eprintln!(
            "{name}: {} bytes",
            new_frame(true, last.framebuffer(), new.framebuffer()).len()
        );
    }
}

/// Approximate heap + inline footprint of one framebuffer's screen, printed for the docs.
fn memory(_c: &mut Criterion) {
    use moshkit_core::terminal::{Cell, Row};
    let cell = std::mem::size_of::<Cell>();
    for (w, h) in [(80usize, 24usize), (200, 60)] {
        // Per row: the cells, the Row (Vec + generation id), the Arc header, the pointer.
        let row = w * cell + std::mem::size_of::<Row>() + 16 + 8;
        eprintln!(
            "frame {w}x{h}: cell {cell} B, about {} B for the rows",
            h * row
        );
    }
}

criterion_group!(benches, parse, diff, memory);
criterion_main!(benches);
