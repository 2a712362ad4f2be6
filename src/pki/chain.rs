//! Putting certificates in path order: leaf first, each followed by its issuer.
//!
//! Issuers are matched by name (the issuer name of one certificate equals the subject name of
//! the next, RFC 5280 §4.1.2.4); signatures are not checked here. Lookups go through maps, so
//! ordering is linear in the number of certificates.

use std::collections::HashMap;

use super::cert::Certificate;
use crate::report::Finding;
use crate::text;

/// How many certificates a `not-a-chain` warning lists before it counts the rest, and how much
/// of each name it shows, so that the warning stays under about 1 KB.
const LISTED: usize = 4;
const NAME_CHARS: usize = 80;

/// Where a set of certificates came from: a file may list them in any order; a TLS server
/// sends its leaf first (RFC 8446 §4.4.2) and the rest in any order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    File,
    Presented,
}

/// Puts certificates in path order and returns them with the length of the leaf's issuer
/// path. A file whose certificates form one path in another order is reordered with a warning;
/// one whose certificates do not form a path keeps its order (the first is the leaf) with a
/// warning, and only its in-order prefix counts as the path. A presented chain keeps its leaf;
/// certificates off the path go last, with a warning.
pub fn order(
    name: &str,
    certs: Vec<Certificate>,
    origin: Origin,
    findings: &mut Vec<Finding>,
) -> (Vec<Certificate>, usize) {
    if certs.windows(2).all(|p| p[0].is_named_issuer(&p[1])) {
        let len = certs.len();
        return (certs, len);
    }
    let mut by_subject: HashMap<&[u8], Vec<usize>> = HashMap::new();
    let mut issued_under: HashMap<&[u8], usize> = HashMap::new();
    for (i, c) in certs.iter().enumerate() {
        by_subject
            .entry(c.subject_raw.as_slice())
            .or_default()
            .push(i);
        *issued_under.entry(c.issuer_raw.as_slice()).or_default() += 1;
    }
    // A certificate issues another when some other certificate names it as issuer.
    let issues_another = |i: usize| {
        let c = &certs[i];
        let named = issued_under
            .get(c.subject_raw.as_slice())
            .copied()
            .unwrap_or(0);
        named > usize::from(c.self_issued)
    };
    let leaf = match origin {
        Origin::Presented => 0,
        Origin::File => {
            let mut candidates = (0..certs.len()).filter(|&i| !issues_another(i));
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => only,
                _ => return keep_file_order(name, certs, findings),
            }
        }
    };
    let mut used = vec![false; certs.len()];
    let mut path = vec![leaf];
    used[leaf] = true;
    let mut current = leaf;
    while !certs[current].self_issued {
        let next = by_subject
            .get(certs[current].issuer_raw.as_slice())
            .and_then(|candidates| candidates.iter().copied().find(|&j| !used[j]));
        let Some(next) = next else { break };
        used[next] = true;
        path.push(next);
        current = next;
    }
    let off_path: Vec<usize> = (0..certs.len()).filter(|&j| !used[j]).collect();
    if origin == Origin::File && !off_path.is_empty() {
        return keep_file_order(name, certs, findings);
    }
    let path_len = path.len();
    findings.push(Finding::warning(
        "chain-order",
        name,
        match origin {
            Origin::File => format!(
                "the certificates are not listed leaf first, each followed by its issuer; \
                 records are computed from the leaf \"{}\" and its path, but a server must \
                 send them in that order",
                certs[leaf].subject
            ),
            Origin::Presented => format!(
                "the server sends its certificates out of path order{}",
                if off_path.is_empty() {
                    String::new()
                } else {
                    format!(", and {} that are not on the leaf's path", off_path.len())
                }
            ),
        },
    ));
    let mut slots: Vec<Option<Certificate>> = certs.into_iter().map(Some).collect();
    let ordered = path
        .into_iter()
        .chain(off_path)
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect();
    (ordered, path_len)
}

/// Keeps a file's certificates as given when they form no single path: the first is taken as
/// the leaf, and only the in-order prefix counts as its issuer path.
fn keep_file_order(
    name: &str,
    certs: Vec<Certificate>,
    findings: &mut Vec<Finding>,
) -> (Vec<Certificate>, usize) {
    let path_len = 1 + certs
        .windows(2)
        .take_while(|p| p[0].is_named_issuer(&p[1]))
        .count();
    let mut listed: Vec<String> = certs
        .iter()
        .take(LISTED)
        .enumerate()
        .map(|(i, c)| {
            format!(
                "#{} \"{}\" issued by \"{}\"",
                i + 1,
                text::shorten(&c.subject, NAME_CHARS),
                text::shorten(&c.issuer, NAME_CHARS)
            )
        })
        .collect();
    if certs.len() > LISTED {
        listed.push(format!("and {} more", certs.len() - LISTED));
    }
    findings.push(Finding::warning(
        "not-a-chain",
        name,
        format!(
            "the certificates do not form one chain; the first is taken as the leaf: {}",
            listed.join("; ")
        ),
    ));
    (certs, path_len)
}
