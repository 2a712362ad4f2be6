//! Helpers shared by the integration tests. Each test file declares `mod support;` and uses
//! what it needs, so items unused by one file are expected.
#![allow(dead_code)]

pub mod dns_auth;
pub mod interop;
pub mod mail_servers;
pub mod sites;
pub mod survey_site;
