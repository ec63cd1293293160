//! The terminal emulator: a `vte` parser driving a framebuffer (filled in by the terminal work).
