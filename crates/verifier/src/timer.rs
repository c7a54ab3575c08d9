//! `struct bpf_timer` arguments and timer callbacks (Linux's `process_timer_func` and
//! `push_async_cb` with `set_timer_callback_state`).

use crate::explore::{Env, Fail, VResult};
use crate::state::{Frame, Ptr, PtrKind, State, Value};
use waggle_uapi::ProgramType;

impl Env<'_> {
    /// A pointer to the `struct bpf_timer` of a map value (register `r`): the map's index.
    pub fn timer_arg(&self, r: usize, p: &Ptr) -> VResult<u32> {
        let PtrKind::MapValue { map } = p.kind else {
            return Err(Fail::new(
                format!("R{r} type={} expected=map_value", p.kind.name()),
                "pass the address of the struct bpf_timer field of a map value",
            ));
        };
        if matches!(
            self.prog_type,
            ProgramType::Kprobe
                | ProgramType::Tracepoint
                | ProgramType::PerfEvent
                | ProgramType::RawTracepoint
        ) {
            return Err(Fail::new(
                "tracing progs cannot use bpf_timer yet",
                format!("{} programs cannot use timers", self.prog_type),
            ));
        }
        if p.var.const_value() != Some(0) {
            return Err(Fail::new(
                format!(
                    "R{r} doesn't have constant offset. bpf_timer has to be at the constant offset"
                ),
                "pass the address of the timer field itself",
            ));
        }
        let Some(t) = self.maps[map as usize].timer_off else {
            return Err(Fail::new(
                format!("map {map} has to have BTF in order to use bpf_timer"),
                "create the map with BTF whose value type has a struct bpf_timer member \
                 (libbpf does this for maps declared in the .maps section)",
            ));
        };
        if p.off != i64::from(t) {
            return Err(Fail::new(
                format!(
                    "off {} doesn't point to 'struct bpf_timer' that is at {t}",
                    p.off
                ),
                "pass the address of the struct bpf_timer field of the map value",
            ));
        }
        Ok(map)
    }

    /// The state a timer callback starts in: it runs later, on its own, so nothing of the
    /// caller's state is there; r1 = the map, r2 = the key, r3 = the value.
    pub fn timer_callback_entry(
        &mut self,
        pc: usize,
        func: u32,
        map: Option<u32>,
    ) -> VResult<State> {
        let sp = self.cfg.subprog_of(func as usize);
        if self.cfg.starts[sp] != func as usize {
            return Err(Fail::bare(format!(
                "callback at insn {func} is not the start of a function"
            )));
        }
        let map = map.ok_or_else(|| Fail::bare("timer callback without a timer"))?;
        let mut frame = Frame::new(0, pc, sp);
        frame.callback = true;
        frame.regs[1] = Value::Ptr(Ptr::new(PtrKind::ConstMap { map }));
        frame.regs[2] = Value::Ptr(Ptr::new(PtrKind::MapKey { map }));
        frame.regs[3] = Value::Ptr(Ptr::new(PtrKind::MapValue { map }));
        Ok(State {
            frames: vec![frame],
            refs: Vec::new(),
            lock: None,
            rcu: false,
        })
    }
}
