//! A file in the page cache: how many of its pages are resident (mincore(2) over a
//! read-only shared mapping, which reads nothing of the file), and dropping its clean
//! pages (`posix_fadvise(POSIX_FADV_DONTNEED)`, no root needed; dirty pages and pages
//! mapped by a running process stay). `/proc/sys/vm/drop_caches` would drop every file's
//! pages but needs root: it is never used.

use anyhow::{Context, Result, bail};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Pages of a file in the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Residency {
    pub resident_pages: u64,
    pub total_pages: u64,
    pub page_size: u64,
    pub file_bytes: u64,
}

impl Residency {
    /// Resident pages ÷ pages, 0–1.
    pub fn share(&self) -> f64 {
        crate::measure::startup::resident_share(self.resident_pages, self.total_pages)
    }

    /// Resident bytes (whole pages, at most the file's size).
    pub fn resident_bytes(&self) -> u64 {
        (self.resident_pages * self.page_size).min(self.file_bytes)
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 { v as u64 } else { 4096 }
}

/// How much of `path` the page cache holds now.
pub fn residency(path: &Path) -> Result<Residency> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    let page = page_size();
    if len == 0 {
        return Ok(Residency {
            resident_pages: 0,
            total_pages: 0,
            page_size: page,
            file_bytes: 0,
        });
    }
    let Ok(size) = usize::try_from(len) else {
        bail!("{} is too large to map", path.display());
    };
    // SAFETY: a fresh read-only shared mapping of an open file, of its length; it is
    // never dereferenced (mincore only asks the kernel about it) and unmapped below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("mapping {}", path.display()));
    }
    let pages = size.div_ceil(page as usize);
    let mut vec = vec![0u8; pages];
    // SAFETY: `addr` is the start of a mapping of `size` bytes; `vec` has one byte per
    // page of it, as mincore requires.
    let rc = unsafe { libc::mincore(addr, size, vec.as_mut_ptr()) };
    let err = std::io::Error::last_os_error();
    // SAFETY: the mapping made above, of that size, unmapped once.
    unsafe { libc::munmap(addr, size) };
    if rc != 0 {
        return Err(err).with_context(|| format!("mincore over {}", path.display()));
    }
    Ok(Residency {
        resident_pages: vec.iter().filter(|b| *b & 1 == 1).count() as u64,
        total_pages: pages as u64,
        page_size: page,
        file_bytes: len,
    })
}

/// Ask the kernel to drop `path`'s clean pages from the page cache
/// (`posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`). It may keep some (pages mapped by a
/// running process): read [`residency`] after to know.
pub fn drop_cached(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: a valid open descriptor; advice only, no memory is touched.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc))
            .with_context(|| format!("posix_fadvise(DONTNEED) on {}", path.display()));
    }
    Ok(())
}

/// Processes that map `path` now, as (pid, command name), read from `/proc/*/maps`: a
/// file mapped by a running process keeps its pages in the page cache whatever
/// `posix_fadvise` is told. Processes whose maps cannot be read are skipped.
pub fn mapped_by(path: &Path) -> Vec<(u32, String)> {
    let Ok(path) = path.canonicalize() else {
        return Vec::new();
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(maps) = std::fs::read_to_string(entry.path().join("maps")) else {
            continue;
        };
        if maps_name(&maps, &path) {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            out.push((pid, comm.trim().to_string()));
        }
    }
    out.sort();
    out
}

/// Whether a `/proc/PID/maps` text maps `path` (its sixth field, the path, may hold
/// spaces). Pure.
pub fn maps_name(maps: &str, path: &Path) -> bool {
    let want = path.as_os_str().to_string_lossy();
    maps.lines().any(|l| {
        let mut rest = l;
        for _ in 0..5 {
            rest = rest.trim_start();
            match rest.find(' ') {
                Some(i) => rest = &rest[i..],
                None => return false,
            }
        }
        rest.trim() == want
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_name_their_file() {
        let maps = "5581a000-5581b000 r--p 00000000 fd:01 1234   /usr/bin/llama-server\n\
                    7f00-7f10 r--s 00000000 fd:01 99  /models/a b.gguf\n\
                    7f20-7f30 rw-p 00000000 00:00 0 \n";
        assert!(maps_name(maps, Path::new("/models/a b.gguf")));
        assert!(maps_name(maps, Path::new("/usr/bin/llama-server")));
        assert!(!maps_name(maps, Path::new("/models/a")));
        assert!(!maps_name("", Path::new("/x")));
    }

    /// This test process maps a file: it is found among the processes that map it.
    #[test]
    fn a_mapping_of_ours_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        std::fs::write(&path, vec![1u8; 8192]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a read-only shared mapping of an open file, never dereferenced,
        // unmapped below.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(addr, libc::MAP_FAILED);
        let by = mapped_by(&path);
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(addr, 8192) };
        assert!(
            by.iter().any(|(pid, _)| *pid == std::process::id()),
            "{by:?}"
        );
    }
    use std::io::Write;

    /// A file just written is in the page cache; reading its residency reads none of it;
    /// dropping it (clean after fsync) leaves fewer pages.
    #[test]
    fn a_written_file_is_resident_and_can_be_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&vec![7u8; 1 << 20]).unwrap();
        f.sync_all().unwrap();
        drop(f);
        let before = residency(&path).unwrap();
        assert_eq!(before.file_bytes, 1 << 20);
        assert_eq!(before.total_pages, (1u64 << 20).div_ceil(before.page_size));
        assert!((0.0..=1.0).contains(&before.share()));
        drop_cached(&path).unwrap();
        let after = residency(&path).unwrap();
        assert!(
            after.resident_pages <= before.resident_pages,
            "{before:?} → {after:?}"
        );
        // Some file systems (tmpfs) cannot drop pages; where they can, none is left.
        assert!((0.0..=1.0).contains(&after.share()));
    }

    #[test]
    fn an_empty_file_and_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, b"").unwrap();
        let r = residency(&path).unwrap();
        assert_eq!((r.total_pages, r.share()), (0, 1.0));
        assert!(residency(&dir.path().join("none")).is_err());
        assert!(drop_cached(&dir.path().join("none")).is_err());
    }
}
