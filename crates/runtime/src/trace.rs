//! The trace pipe: where `bpf_trace_printk` writes, like `/sys/kernel/tracing/trace_pipe`.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Lines most recently printed by programs (bounded: old lines are dropped).
#[derive(Debug, Default)]
pub struct TracePipe {
    lines: Mutex<VecDeque<String>>,
}

/// Lines kept before the oldest are dropped.
pub const TRACE_PIPE_LINES: usize = 4096;

impl TracePipe {
    /// Append a line.
    pub fn push(&self, line: String) {
        let mut l = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if l.len() == TRACE_PIPE_LINES {
            l.pop_front();
        }
        l.push_back(line);
    }

    /// Take every line printed so far.
    pub fn drain(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect()
    }
}
