//! Code integrity: a guarded function's bytes in memory (`/proc/self/mem`) against the same
//! bytes in the file it was mapped from.
//!
//! The reference is read once, when the function is guarded: the mapping that holds the
//! address gives the file and the file offset; the ELF section at that offset gives the
//! link-time address; the symbol table gives the function's start and size. A scan then reads
//! only the function's bytes from memory.

use std::os::unix::fs::FileExt as _;
use std::path::Path;

use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};

use super::procfs;
use crate::{Check, Error, Evidence, Finding};

/// Larger than any function worth guarding; a bigger symbol is refused rather than copied.
const MAX_FUNCTION: u64 = 1 << 20;

/// A guarded function and its bytes on disk.
#[derive(Debug)]
pub(crate) struct Guarded {
    name: String,
    /// Where the function starts in this process.
    start: usize,
    file: String,
    reference: Vec<u8>,
}

impl Guarded {
    pub(crate) fn new(label: &str, address: usize) -> Result<Self, Error> {
        let why = |why: String| Error::Guard {
            label: label.to_owned(),
            address,
            why,
        };
        let path = "/proc/self/maps";
        let text = procfs::read(Path::new(path))?;
        let maps = procfs::maps(&text, path)?;
        let m = maps
            .iter()
            .find(|m| m.start <= address && address < m.end)
            .ok_or_else(|| why("no mapping holds the address".into()))?;
        if !m.executable() || !m.path.starts_with('/') || m.path.ends_with(" (deleted)") {
            return Err(why(format!("not executable code from a file: {}", m.line)));
        }
        let file_offset = m.offset + (address - m.start) as u64;
        let (name, link_start, size, reference) =
            from_disk(Path::new(m.path), file_offset).map_err(why)?;
        let symbol_offset =
            usize::try_from(link_start).map_err(|_| why("address too wide".into()))?;
        // The runtime start is the address less its distance from the symbol's start.
        let start = address
            .checked_sub(symbol_offset)
            .ok_or_else(|| why("symbol after the address".into()))?;
        debug_assert_eq!(reference.len() as u64, size);
        let name = if name.is_empty() {
            label.to_owned()
        } else {
            name
        };
        Ok(Self {
            name,
            start,
            file: m.path.to_owned(),
            reference,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// From the ELF file at `path`: the demangled name of the function holding file offset
/// `offset`, how far into the function that offset is, its size, and its bytes.
fn from_disk(path: &Path, offset: u64) -> Result<(String, u64, u64, Vec<u8>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cache = object::ReadCache::new(file);
    let elf = object::File::parse(&cache).map_err(|e| format!("{}: {e}", path.display()))?;
    let section = elf
        .sections()
        .find(|s| {
            s.file_range()
                .is_some_and(|(o, n)| o <= offset && offset < o + n)
        })
        .ok_or_else(|| {
            format!(
                "{}: no section holds file offset {offset:#x}",
                path.display()
            )
        })?;
    let (section_offset, _) = section.file_range().unwrap_or_default();
    let vaddr = section.address() + (offset - section_offset);
    // The smallest text symbol holding the address (an alias may span more).
    let symbol = elf
        .symbols()
        .chain(elf.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter(|s| s.address() <= vaddr && vaddr < s.address() + s.size())
        .min_by_key(|s| s.size())
        .ok_or_else(|| {
            format!(
                "{}: no function symbol holds address {vaddr:#x} (is the symbol table stripped?)",
                path.display()
            )
        })?;
    if symbol.size() > MAX_FUNCTION {
        return Err(format!("function of {} bytes", symbol.size()));
    }
    let bytes = section
        .data_range(symbol.address(), symbol.size())
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "function outside its section".to_owned())?
        .to_vec();
    let name = symbol
        .name()
        .map(|n| format!("{:#}", rustc_demangle::demangle(n)))
        .unwrap_or_default();
    Ok((name, vaddr - symbol.address(), symbol.size(), bytes))
}

/// Where the scans read guarded code.
pub(crate) const MEM: &str = "/proc/self/mem";

/// SH008, SH009, SH010 for every guarded function, read through `kept` (`/proc/self/mem`
/// opened when the first function was guarded, which keeps working after
/// [`crate::harden`] makes the file root's), else through a fresh open.
pub(crate) fn check_all(guarded: &[Guarded], kept: Option<&std::fs::File>) -> Vec<Finding> {
    let opened;
    let mem = match kept {
        Some(mem) => mem,
        None => match std::fs::File::open(MEM) {
            Ok(mem) => {
                opened = mem;
                &opened
            }
            Err(e) => {
                return guarded
                    .iter()
                    .map(|g| unreadable(g, format!("{MEM}: {e}")))
                    .collect();
            }
        },
    };
    guarded.iter().filter_map(|g| check(mem, g)).collect()
}

fn unreadable(g: &Guarded, detail: String) -> Finding {
    Finding::new(
        Check::UnreadableCode,
        Evidence {
            function: Some(g.name.clone()),
            detail,
            ..Evidence::default()
        },
    )
}

fn check(mem: &std::fs::File, g: &Guarded) -> Option<Finding> {
    let mut now = vec![0; g.reference.len()];
    if let Err(e) = mem.read_exact_at(&mut now, g.start as u64) {
        return Some(unreadable(
            g,
            format!("/proc/self/mem at {:#x}: {e}", g.start),
        ));
    }
    let first = now.iter().zip(&g.reference).position(|(a, b)| a != b)?;
    let check = if breakpoint_at(&now, first) {
        Check::Breakpoint
    } else {
        Check::PatchedCode
    };
    let changed = now.iter().zip(&g.reference).filter(|(a, b)| a != b).count();
    let show = |b: &[u8]| {
        b.iter()
            .skip(first)
            .take(8)
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    Some(Finding::new(
        check,
        Evidence {
            path: Some(g.file.clone()),
            function: Some(g.name.clone()),
            detail: format!(
                "{changed} of {} bytes differ, first at +{first:#x} ({:#x}): memory {}, file {}",
                g.reference.len(),
                g.start + first,
                show(&now),
                show(&g.reference),
            ),
            ..Evidence::default()
        },
    ))
}

/// Whether the first changed byte starts a software breakpoint instruction.
fn breakpoint_at(code: &[u8], at: usize) -> bool {
    if cfg!(any(target_arch = "x86_64", target_arch = "x86")) {
        // int3
        return code[at] == 0xcc;
    }
    if cfg!(target_arch = "aarch64") {
        // brk #imm16: 0xd4200000 | imm16 << 5, in 4-byte-aligned little-endian words.
        let word = at - at % 4;
        if let Some(w) = code.get(word..word + 4) {
            let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            return w & 0xffe0_001f == 0xd420_0000;
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[inline(never)]
    fn guarded_example(x: u64) -> u64 {
        x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ 0x5555
    }

    #[test]
    fn unmodified_code_matches_the_file() {
        let g = Guarded::new("guarded_example", guarded_example as *const () as usize).unwrap();
        assert!(g.name().contains("guarded_example"), "{}", g.name());
        assert!(!g.reference.is_empty());
        assert_eq!(check_all(std::slice::from_ref(&g), None), vec![]);
        assert_eq!(std::hint::black_box(guarded_example)(1), guarded_example(1));
    }

    #[test]
    fn a_changed_reference_is_named_by_kind() {
        // The process cannot patch its own code without unsafe; a guarded function whose
        // reference differs stands for it (the gdb integration test patches the real thing).
        let mut g = Guarded::new("guarded_example", guarded_example as *const () as usize).unwrap();
        let original = g.reference[0];
        g.reference[0] = original.wrapping_add(1);
        let f = check_all(std::slice::from_ref(&g), None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, Check::PatchedCode);
        assert!(
            f[0].evidence
                .function
                .as_deref()
                .unwrap()
                .contains("guarded_example")
        );
        assert!(
            f[0].evidence.detail.contains("first at +0x0"),
            "{}",
            f[0].evidence.detail
        );
    }

    #[test]
    fn data_is_not_code() {
        static DATA: [u8; 4] = [1, 2, 3, 4];
        let err = Guarded::new("data", DATA.as_ptr() as usize).unwrap_err();
        assert!(err.to_string().contains("cannot guard data"), "{err}");
    }

    #[test]
    fn breakpoint_bytes() {
        if cfg!(target_arch = "x86_64") {
            assert!(breakpoint_at(&[0x55, 0xcc], 1));
            assert!(!breakpoint_at(&[0x55, 0xc3], 1));
        }
    }
}
