//! Code shared by the verifier's integration tests.

#![allow(dead_code)]

pub mod kernel_btf;
pub mod kernel_load;
pub mod objects;
pub mod table;
