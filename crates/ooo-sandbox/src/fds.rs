//! Descriptor hygiene: every descriptor above standard error that the policy does not
//! keep is closed (or marked close-on-exec) before the next program starts, so nothing
//! the caller happened to hold open (its ledger, a socket, a terminal) leaks in. Only
//! system calls: safe between fork and exec.

/// Mark every descriptor from 3 up as close-on-exec, except those in `keep` (which are
/// made inheritable). `close_range(CLOSE_RANGE_CLOEXEC)` covers the gaps; kernels before
/// 5.11 fall back to walking up to the descriptor limit.
pub(crate) fn cloexec_all_but(keep: &[i32]) -> std::io::Result<()> {
    let mut sorted: [i32; 16] = [i32::MAX; 16];
    let n = keep.len().min(sorted.len());
    sorted[..n].copy_from_slice(&keep[..n]);
    sorted[..n].sort_unstable();
    let mut from: u32 = 3;
    for fd in sorted[..n].iter().copied().filter(|fd| *fd >= 3) {
        if (fd as u32) > from {
            cloexec_range(from, fd as u32 - 1)?;
        }
        // SAFETY: fcntl on a descriptor number; an unopened one just fails.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        from = from.max(fd as u32 + 1);
    }
    cloexec_range(from, u32::MAX)
}

fn cloexec_range(first: u32, last: u32) -> std::io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags of our own process.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, CLOSE_RANGE_CLOEXEC) };
    if r == 0 {
        return Ok(());
    }
    // SAFETY: as above, one descriptor at a time.
    let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(1024, 1 << 20) as u32;
    for fd in first..=last.min(max) {
        unsafe { libc::fcntl(fd as i32, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}
