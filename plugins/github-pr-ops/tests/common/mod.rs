//! Helpers shared by the plugin's integration tests (`mod common;` in each test file).

pub mod fake_github;
pub mod openapi;
