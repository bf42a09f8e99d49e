//! Resource limits as rlimits, set on the calling process before it executes the
//! command: processes, data memory, file size, descriptors, and no core dumps (a core
//! file could carry the caller's secrets out of memory). Only system calls: safe between
//! fork and exec.

use crate::policy::Limits;

fn set(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    // SAFETY: getrlimit/setrlimit on our own process with valid structs.
    unsafe {
        let mut current = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(resource, &mut current) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Never above the hard limit we were given: lowering is always allowed.
        let wanted = value.min(current.rlim_max);
        if libc::setrlimit(resource, &libc::rlimit { rlim_cur: wanted, rlim_max: wanted }) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Apply `limits` (and RLIMIT_CORE = 0; RLIMIT_AS when `address_space` is not 0).
pub(crate) fn apply(limits: &Limits, address_space: u64) -> std::io::Result<()> {
    if address_space != 0 {
        set(libc::RLIMIT_AS, address_space)?;
    }
    set(libc::RLIMIT_NPROC, limits.processes)?;
    set(libc::RLIMIT_DATA, limits.memory_bytes)?;
    set(libc::RLIMIT_FSIZE, limits.file_bytes)?;
    set(libc::RLIMIT_NOFILE, limits.open_files)?;
    set(libc::RLIMIT_CORE, 0)
}
