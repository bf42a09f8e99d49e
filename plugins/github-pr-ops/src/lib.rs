//! `github-pr-ops` as a library: everything the plugin binary (`main.rs`) does, in
//! modules with one job each, so tests and fuzz targets can reach the parsers of what
//! users and GitHub send. What the pieces are:
//! `target` (pull request and repository references), `github` (the REST client),
//! `facts` (GitHub's answers read into typed facts), `policy` (what ready means),
//! `review`, `merge` and `status` (the jobs), `core_link` (recording through the capability
//! channel, saved policies in the plugin's state).

pub mod core_link;
pub mod facts;
pub mod github;
pub mod merge;
pub mod policy;
pub mod review;
pub mod status;
pub mod target;
