//! Bounds on what a configuration may make us do. Hitting one is an Error
//! diagnostic with FILE:LINE, never a panic or unbounded memory.

/// Largest single file read (bytes).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest total of all files read plus expansion output (bytes).
pub const MAX_TOTAL_BYTES: usize = 32 * 1024 * 1024;
/// Longest physical line (bytes).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Deepest chain of nested includes.
pub const MAX_INCLUDE_DEPTH: usize = 32;
/// Most files read in one load.
pub const MAX_FILES: usize = 4096;
/// Deepest `{` nesting (keepalived's own deepest is 5).
pub const MAX_NESTING: usize = 32;
/// Deepest recursion of `$NAME` substitution / re-processing.
pub const MAX_EXPANSION_DEPTH: usize = 32;
/// Longest line produced by substitution (bytes).
pub const MAX_EXPANDED_LINE: usize = 1024 * 1024;
/// Most logical lines produced in total (after ~SEQ etc.).
pub const MAX_LINES: usize = 2_000_000;
/// Most definitions.
pub const MAX_DEFINITIONS: usize = 10_000;
/// Most logical lines processed (emitted or not) in one load.
pub const MAX_WORK: usize = 4_000_000;
