//! `BPF_MAP_TYPE_LPM_TRIE` (kernel/bpf/lpm_trie.c): longest-prefix match over keys
//! `{ u32 prefixlen; u8 data[]; }` (data big-endian, most significant byte first).
//!
//! Same algorithm as the kernel: a binary trie of real and intermediate nodes, where an
//! intermediate node always has two children. Nodes live in an index-linked arena under one
//! read-write lock; values live in fixed-size chunks that never move, so a program's pointer
//! to a value stays valid while the map lives.

use crate::error::{MapError, Result};
use crate::spec::{MapSpec, update::*};
use crate::storage::{MemCharge, Storage};
use std::ptr::NonNull;
use std::sync::RwLock;

const NIL: u32 = u32::MAX;
const CHUNK: u32 = 64;

#[derive(Debug, Clone, Copy)]
struct Node {
    child: [u32; 2],
    prefixlen: u32,
    im: bool,
    value: u32,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Root,
    Child(u32, usize),
}

#[derive(Debug, Default)]
struct Trie {
    nodes: Vec<Node>,
    data: Vec<u8>,
    free_nodes: Vec<u32>,
    root: u32,
    n_entries: u32,
    chunks: Vec<Storage>,
    free_values: Vec<u32>,
    values_used: u32,
}

/// A longest-prefix-match trie map.
#[derive(Debug)]
pub struct LpmTrie {
    trie: RwLock<Trie>,
    data_size: usize,
    max_prefixlen: u32,
    value_size: usize,
    stride: usize,
    max_entries: u32,
    charge: MemCharge,
}

fn extract_bit(data: &[u8], index: u32) -> usize {
    usize::from(data[index as usize / 8] >> (7 - index % 8) & 1)
}

/// Number of leading bits `a` and `b` share, capped at `limit`.
fn prefix_match(a: &[u8], b: &[u8], limit: u32) -> u32 {
    let mut n = 0u32;
    for (x, y) in a.iter().zip(b) {
        let diff = x ^ y;
        n += diff.leading_zeros().min(8);
        if diff != 0 || n >= limit {
            break;
        }
    }
    n.min(limit)
}

impl Trie {
    fn node_data(&self, i: u32, ds: usize) -> &[u8] {
        &self.data[i as usize * ds..(i as usize + 1) * ds]
    }

    fn get(&self, s: Slot) -> u32 {
        match s {
            Slot::Root => self.root,
            Slot::Child(n, b) => self.nodes[n as usize].child[b],
        }
    }

    fn set(&mut self, s: Slot, v: u32) {
        match s {
            Slot::Root => self.root = v,
            Slot::Child(n, b) => self.nodes[n as usize].child[b] = v,
        }
    }

    fn alloc_node(&mut self, prefixlen: u32, data: &[u8], ds: usize) -> u32 {
        let node = Node {
            child: [NIL, NIL],
            prefixlen,
            im: false,
            value: NIL,
        };
        if let Some(i) = self.free_nodes.pop() {
            self.nodes[i as usize] = node;
            self.data[i as usize * ds..(i as usize + 1) * ds].copy_from_slice(data);
            i
        } else {
            self.nodes.push(node);
            self.data.extend_from_slice(data);
            self.nodes.len() as u32 - 1
        }
    }

    fn free_node(&mut self, i: u32) {
        let v = self.nodes[i as usize].value;
        if v != NIL {
            self.free_values.push(v);
        }
        self.nodes[i as usize].value = NIL;
        self.free_nodes.push(i);
    }
}

impl LpmTrie {
    /// Creates the trie described by a validated `spec`.
    pub(crate) fn new(spec: &MapSpec) -> LpmTrie {
        let data_size = spec.key_size as usize - 4;
        LpmTrie {
            trie: RwLock::new(Trie {
                root: NIL,
                ..Trie::default()
            }),
            data_size,
            max_prefixlen: data_size as u32 * 8,
            value_size: spec.value_size as usize,
            stride: spec.value_size_aligned(),
            max_entries: spec.max_entries,
            charge: MemCharge::default(),
        }
    }

    fn split_key<'k>(&self, key: &'k [u8]) -> Result<(u32, &'k [u8])> {
        if key.len() != self.data_size + 4 {
            return Err(MapError::Invalid("key size"));
        }
        let plen = u32::from_ne_bytes(key[..4].try_into().expect("4 bytes"));
        Ok((plen, &key[4..]))
    }

    fn value_loc(&self, slot: u32) -> (usize, usize) {
        (
            (slot / CHUNK) as usize,
            (slot % CHUNK) as usize * self.stride,
        )
    }

    fn alloc_value(&self, t: &mut Trie) -> Result<u32> {
        if let Some(v) = t.free_values.pop() {
            return Ok(v);
        }
        if t.values_used.is_multiple_of(CHUNK) {
            t.chunks.push(Storage::new(CHUNK as usize * self.stride)?);
        }
        t.values_used += 1;
        Ok(t.values_used - 1)
    }

    fn write_value(&self, t: &Trie, slot: u32, value: &[u8]) {
        let (c, off) = self.value_loc(slot);
        t.chunks[c].write(off, value);
    }

    fn recharge(&self, t: &Trie) {
        let bytes = t.nodes.capacity() * std::mem::size_of::<Node>()
            + t.data.capacity()
            + (t.free_nodes.capacity() + t.free_values.capacity()) * 4
            + t.chunks.capacity() * std::mem::size_of::<Storage>();
        self.charge.set(bytes);
    }

    /// The value slot of the longest prefix matching `key`.
    fn find(&self, t: &Trie, plen: u32, data: &[u8]) -> Option<u32> {
        if plen > self.max_prefixlen {
            return None;
        }
        let ds = self.data_size;
        let mut node = t.root;
        let mut found = NIL;
        while node != NIL {
            let n = &t.nodes[node as usize];
            let matchlen = prefix_match(t.node_data(node, ds), data, n.prefixlen.min(plen));
            if matchlen == self.max_prefixlen {
                found = node;
                break;
            }
            if matchlen < n.prefixlen {
                break;
            }
            if !n.im {
                found = node;
            }
            node = n.child[extract_bit(data, n.prefixlen)];
        }
        (found != NIL).then(|| t.nodes[found as usize].value)
    }

    /// Program lookup: the address of the longest matching prefix's value.
    pub fn lookup_ptr(&self, key: &[u8]) -> Option<NonNull<u8>> {
        let (plen, data) = self.split_key(key).ok()?;
        let t = self.trie.read().unwrap_or_else(|e| e.into_inner());
        let slot = self.find(&t, plen, data)?;
        let (c, off) = self.value_loc(slot);
        Some(t.chunks[c].ptr_at(off))
    }

    /// User-space lookup: copies the longest matching prefix's value.
    pub fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<()> {
        if out.len() != self.value_size {
            return Err(MapError::Invalid("value buffer size"));
        }
        let (plen, data) = self.split_key(key)?;
        let t = self.trie.read().unwrap_or_else(|e| e.into_inner());
        let slot = self.find(&t, plen, data).ok_or(MapError::NotFound)?;
        let (c, off) = self.value_loc(slot);
        t.chunks[c].read(off, out);
        Ok(())
    }

    /// `trie_update_elem`: `ENOSPC` when `max_entries` prefixes are stored.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        if flags > BPF_EXIST {
            return Err(MapError::Invalid("unknown update flags"));
        }
        let (plen, data) = self.split_key(key)?;
        if value.len() != self.value_size {
            return Err(MapError::Invalid("value size"));
        }
        if plen > self.max_prefixlen {
            return Err(MapError::Invalid("prefixlen beyond the key's data"));
        }
        let ds = self.data_size;
        let mut guard = self.trie.write().unwrap_or_else(|e| e.into_inner());
        let t = &mut *guard;
        let check_add = |t: &Trie| -> Result<()> {
            if flags == BPF_EXIST {
                return Err(MapError::NotFound);
            }
            if t.n_entries == self.max_entries {
                return Err(MapError::NoSpace);
            }
            Ok(())
        };
        let mut slot = Slot::Root;
        let mut matchlen = 0;
        let mut node = t.get(slot);
        while node != NIL {
            let n = t.nodes[node as usize];
            matchlen = prefix_match(t.node_data(node, ds), data, n.prefixlen.min(plen));
            if n.prefixlen != matchlen || n.prefixlen == plen {
                break;
            }
            slot = Slot::Child(node, extract_bit(data, n.prefixlen));
            node = t.get(slot);
        }
        if node != NIL && t.nodes[node as usize].prefixlen == matchlen {
            // Exact prefix present: set its value (an intermediate node becomes real).
            let n = t.nodes[node as usize];
            if !n.im {
                if flags == BPF_NOEXIST {
                    return Err(MapError::Exists);
                }
                self.write_value(t, n.value, value);
                return Ok(());
            }
            check_add(t)?;
            let v = self.alloc_value(t)?;
            self.write_value(t, v, value);
            let n = &mut t.nodes[node as usize];
            n.im = false;
            n.value = v;
            t.n_entries += 1;
            self.recharge(t);
            return Ok(());
        }
        check_add(t)?;
        let v = self.alloc_value(t)?;
        self.write_value(t, v, value);
        let new = t.alloc_node(plen, data, ds);
        t.nodes[new as usize].value = v;
        t.n_entries += 1;
        if node == NIL {
            t.set(slot, new);
        } else if matchlen == plen {
            // The new prefix covers the node: insert it above.
            let bit = extract_bit(t.node_data(node, ds), matchlen);
            t.nodes[new as usize].child[bit] = node;
            t.set(slot, new);
        } else {
            let node_data = t.node_data(node, ds).to_vec();
            let im = t.alloc_node(matchlen, &node_data, ds);
            t.nodes[im as usize].im = true;
            if extract_bit(data, matchlen) == 1 {
                t.nodes[im as usize].child = [node, new];
            } else {
                t.nodes[im as usize].child = [new, node];
            }
            t.set(slot, im);
        }
        self.recharge(t);
        Ok(())
    }

    /// `trie_delete_elem`: removes the exact prefix `key` (`ENOENT` if absent).
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let (plen, data) = self.split_key(key)?;
        if plen > self.max_prefixlen {
            return Err(MapError::Invalid("prefixlen beyond the key's data"));
        }
        let ds = self.data_size;
        let mut guard = self.trie.write().unwrap_or_else(|e| e.into_inner());
        let t = &mut *guard;
        let mut trim = Slot::Root;
        let mut trim2 = trim;
        let mut parent = NIL;
        let mut matchlen = 0;
        let mut node = t.get(trim);
        while node != NIL {
            let n = t.nodes[node as usize];
            matchlen = prefix_match(t.node_data(node, ds), data, n.prefixlen.min(plen));
            if n.prefixlen != matchlen || n.prefixlen == plen {
                break;
            }
            parent = node;
            trim2 = trim;
            trim = Slot::Child(node, extract_bit(data, n.prefixlen));
            node = t.get(trim);
        }
        if node == NIL {
            return Err(MapError::NotFound);
        }
        let n = t.nodes[node as usize];
        if n.prefixlen != plen || n.prefixlen != matchlen || n.im {
            return Err(MapError::NotFound);
        }
        t.n_entries -= 1;
        if n.child[0] != NIL && n.child[1] != NIL {
            // Two children: the node stays as an intermediate one.
            t.nodes[node as usize].im = true;
            t.free_values.push(n.value);
            t.nodes[node as usize].value = NIL;
            return Ok(());
        }
        if parent != NIL && t.nodes[parent as usize].im && n.child == [NIL, NIL] {
            // Drop the now useless intermediate parent too; promote the sibling.
            let p = t.nodes[parent as usize];
            let sibling = if p.child[0] == node {
                p.child[1]
            } else {
                p.child[0]
            };
            t.set(trim2, sibling);
            t.free_node(parent);
            t.free_node(node);
            return Ok(());
        }
        let promote = if n.child[0] != NIL {
            n.child[0]
        } else {
            n.child[1]
        };
        t.set(trim, promote);
        t.free_node(node);
        Ok(())
    }

    /// `trie_get_next_key`: postorder (more specific prefixes first); an absent or missing key
    /// starts from the leftmost prefix.
    pub fn get_next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<()> {
        if out.len() != self.data_size + 4 {
            return Err(MapError::Invalid("key size"));
        }
        let ds = self.data_size;
        let t = self.trie.read().unwrap_or_else(|e| e.into_inner());
        if t.root == NIL {
            return Err(MapError::NotFound);
        }
        let mut search_root = t.root;
        let mut next_node = NIL;
        let parsed = match key {
            Some(k) => Some(self.split_key(k)?),
            None => None,
        };
        'exact: {
            let Some((plen, data)) = parsed.filter(|(p, _)| *p <= self.max_prefixlen) else {
                break 'exact;
            };
            let mut stack = Vec::new();
            let mut node = t.root;
            let mut matchlen = 0;
            while node != NIL {
                stack.push(node);
                let n = t.nodes[node as usize];
                matchlen = prefix_match(t.node_data(node, ds), data, n.prefixlen.min(plen));
                if n.prefixlen != matchlen || n.prefixlen == plen {
                    break;
                }
                node = n.child[extract_bit(data, n.prefixlen)];
            }
            if node == NIL || t.nodes[node as usize].prefixlen != matchlen {
                break 'exact;
            }
            if t.nodes[node as usize].im {
                break 'exact;
            }
            // Found: the next node in postorder is in the parent's right subtree or the parent.
            let mut node = *stack.last().expect("non-empty");
            let mut sp = stack.len() - 1;
            loop {
                if sp == 0 {
                    return Err(MapError::NotFound);
                }
                let parent = stack[sp - 1];
                let p = t.nodes[parent as usize];
                if p.child[0] == node && p.child[1] != NIL {
                    search_root = p.child[1];
                    break 'exact;
                }
                if !p.im {
                    next_node = parent;
                    break;
                }
                node = parent;
                sp -= 1;
            }
        }
        if next_node == NIL {
            // Leftmost real node of `search_root` in postorder.
            let mut node = search_root;
            while node != NIL {
                let n = t.nodes[node as usize];
                if n.im {
                    node = n.child[0];
                } else {
                    next_node = node;
                    node = if n.child[0] != NIL {
                        n.child[0]
                    } else {
                        n.child[1]
                    };
                }
            }
        }
        let n = t.nodes[next_node as usize];
        out[..4].copy_from_slice(&n.prefixlen.to_ne_bytes());
        out[4..].copy_from_slice(t.node_data(next_node, ds));
        Ok(())
    }

    /// Number of prefixes stored.
    pub fn len(&self) -> usize {
        self.trie
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .n_entries as usize
    }

    /// Whether no prefix is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes allocated for the map.
    pub fn memory_usage(&self) -> usize {
        let t = self.trie.read().unwrap_or_else(|e| e.into_inner());
        let chunks: usize = t.chunks.iter().map(Storage::len).sum();
        self.charge.get() + chunks + std::mem::size_of::<Self>()
    }
}
