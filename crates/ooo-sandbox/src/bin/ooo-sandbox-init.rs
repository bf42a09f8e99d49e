//! The sandbox's init helper as its own small binary (used by the crate's tests and by
//! callers that are not the `ooo` binary). Everything lives in `ooo_sandbox::init`.

fn main() {
    ooo_sandbox::init::main()
}
