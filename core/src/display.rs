//! The frame differ: turns one framebuffer into another with the shortest escape sequence
//! (filled in by the terminal work).
