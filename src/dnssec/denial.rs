//! Denial of existence: what NSEC (RFC 4035 §5.4, RFC 6840 §4) and NSEC3 (RFC 5155 §8) records
//! prove about a name and a type.
//!
//! The records given here have already had their signatures checked; this module only reasons
//! about names, hashes and type bitmaps, and says in words what each record it uses proves.

use std::cmp::Ordering;

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::dnssec::rdata::{NSEC, NSEC3};
use hickory_proto::rr::{Name, RecordType};

use super::DenialDoc;
use crate::addr::name_text;

/// RFC 9276 §3.2 and Appendix A: more NSEC3 iterations than this make a zone insecure.
pub const MAX_NSEC3_ITERATIONS: u16 = 100;

/// What a set of denial records establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// The claim is proven.
    Proven,
    /// Proven only through an NSEC3 opt-out span (RFC 5155 §9.2): an unsigned delegation may
    /// hide there, so the answer is insecure.
    OptOut,
    /// The NSEC3 records use more iterations than RFC 9276 allows; treated as insecure.
    TooManyIterations(u16),
    /// The NSEC3 records use a hash algorithm danekit does not know; treated as insecure.
    UnknownHash,
    /// The records do not prove it.
    Failed(String),
}

/// The denial records of an answer, with what was concluded from them.
#[derive(Debug, Default)]
pub struct Denial<'a> {
    pub nsec: Vec<(&'a Name, &'a NSEC)>,
    pub nsec3: Vec<(&'a Name, &'a NSEC3)>,
    pub docs: Vec<DenialDoc>,
}

fn doc(rtype: &str, owner: &Name, proves: String) -> DenialDoc {
    DenialDoc {
        rtype: rtype.into(),
        owner: name_text(owner),
        proves,
    }
}

/// `owner < name < next` in canonical order, the last NSEC of a zone wrapping to its apex.
fn nsec_covers(owner: &Name, next: &Name, name: &Name) -> bool {
    match owner.cmp(next) {
        Ordering::Less => owner < name && name < next,
        // The last NSEC: next is the apex.
        _ => owner < name || (name < next && next.zone_of(name)),
    }
}

/// The wildcard name at `encloser`: `*.ENCLOSER`.
fn wildcard_at(encloser: &Name) -> Option<Name> {
    Name::from_ascii("*").ok()?.append_domain(encloser).ok()
}

/// The longest common ancestor of two names.
fn common_ancestor(a: &Name, b: &Name) -> Name {
    let mut n = a.to_lowercase();
    while !n.zone_of(b) && !n.is_root() {
        n = n.base_name();
    }
    n
}

/// An NSEC from the parent side of a delegation (NS without SOA) says nothing about names
/// below it, nor about types other than DS at it (RFC 6840 §4.1). A DNAME likewise.
fn is_delegation(nsec: &NSEC) -> bool {
    let types: Vec<RecordType> = nsec.type_bit_maps().collect();
    (types.contains(&RecordType::NS) && !types.contains(&RecordType::SOA))
        || types.contains(&RecordType::DNAME)
}

fn types_text(types: impl Iterator<Item = RecordType>) -> String {
    types.map(|t| t.to_string()).collect::<Vec<_>>().join(" ")
}

impl<'a> Denial<'a> {
    fn nsec_matching(&self, name: &Name) -> Option<(&'a Name, &'a NSEC)> {
        self.nsec.iter().copied().find(|(o, _)| *o == name)
    }

    fn nsec_covering(&self, name: &Name) -> Option<(&'a Name, &'a NSEC)> {
        self.nsec.iter().copied().find(|(o, n)| {
            nsec_covers(o, n.next_domain_name(), name)
                // Not across a delegation: an NSEC at an ancestor delegation cannot deny a name
                // below it.
                && !(is_delegation(n) && o.zone_of(name) && *o != name)
        })
    }

    /// NODATA for `qname`/`qtype` (RFC 4035 §5.4, RFC 5155 §8.5–8.7).
    pub fn prove_nodata(&mut self, qname: &Name, qtype: RecordType) -> Proof {
        if !self.nsec.is_empty() {
            return self.nsec_nodata(qname, qtype);
        }
        if !self.nsec3.is_empty() {
            return self.nsec3_nodata(qname, qtype);
        }
        Proof::Failed("no NSEC or NSEC3 record denies it".into())
    }

    /// NXDOMAIN for `qname` (RFC 4035 §5.4, RFC 5155 §8.4).
    pub fn prove_nxdomain(&mut self, qname: &Name) -> Proof {
        if !self.nsec.is_empty() {
            return self.nsec_nxdomain(qname);
        }
        if !self.nsec3.is_empty() {
            return self.nsec3_nxdomain(qname);
        }
        Proof::Failed("no NSEC or NSEC3 record denies it".into())
    }

    /// A wildcard answer: no closer match for `qname` than the wildcard at `encloser`
    /// (RFC 4035 §5.3.4, RFC 5155 §8.8).
    pub fn prove_wildcard_answer(&mut self, qname: &Name, encloser: &Name) -> Proof {
        if let Some((owner, nsec)) = self.nsec_covering(qname) {
            self.docs.push(doc(
                "NSEC",
                owner,
                format!(
                    "no name {} exists (covered up to {}), so the wildcard *.{} answered",
                    name_text(qname),
                    name_text(nsec.next_domain_name()),
                    name_text(encloser)
                ),
            ));
            return Proof::Proven;
        }
        if !self.nsec3.is_empty() {
            let Some(params) = self.nsec3_params() else {
                return Proof::UnknownHash;
            };
            if params.iterations > MAX_NSEC3_ITERATIONS {
                return Proof::TooManyIterations(params.iterations);
            }
            let Some(next_closer) = next_closer(qname, encloser) else {
                return Proof::Failed("the wildcard is not above the name".into());
            };
            return match self.nsec3_covering(&next_closer, &params) {
                Some((owner, n3)) => {
                    self.docs.push(doc(
                        "NSEC3",
                        owner,
                        format!(
                            "no name {} exists, so the wildcard *.{} answered",
                            name_text(&next_closer),
                            name_text(encloser)
                        ),
                    ));
                    if n3.opt_out() {
                        Proof::OptOut
                    } else {
                        Proof::Proven
                    }
                }
                None => Proof::Failed(format!(
                    "no NSEC3 covers {}, so a closer match than the wildcard may exist",
                    name_text(&next_closer)
                )),
            };
        }
        Proof::Failed(format!(
            "a wildcard answered {} but no NSEC or NSEC3 proves that no closer match exists",
            name_text(qname)
        ))
    }

    fn nsec_nodata(&mut self, qname: &Name, qtype: RecordType) -> Proof {
        if let Some((owner, nsec)) = self.nsec_matching(qname) {
            let types: Vec<RecordType> = nsec.type_bit_maps().collect();
            if types.contains(&qtype) || types.contains(&RecordType::CNAME) {
                return Proof::Failed(format!(
                    "the NSEC at {} lists {qtype} (or CNAME): the type exists",
                    name_text(owner)
                ));
            }
            if qtype != RecordType::DS && is_delegation(nsec) {
                return Proof::Failed(format!(
                    "the NSEC at {} is from the parent side of a delegation and cannot deny {qtype} (RFC 6840 §4.1)",
                    name_text(owner)
                ));
            }
            self.docs.push(doc(
                "NSEC",
                owner,
                format!(
                    "{} exists with only [{}]: no {qtype}",
                    name_text(owner),
                    types_text(types.iter().copied())
                ),
            ));
            return Proof::Proven;
        }
        // RFC 4035 §5.4: a wildcard NODATA: the name does not exist, and the wildcard that
        // would match has no such type.
        let Some((cover_owner, cover)) = self.nsec_covering(qname) else {
            return Proof::Failed(format!("no NSEC matches or covers {}", name_text(qname)));
        };
        // An empty non-terminal has no NSEC of its own (RFC 4035 §2.3): the NSEC that covers
        // it names a descendant as next, which proves the name exists with no data at all.
        let next = cover.next_domain_name();
        if qname.zone_of(next) && next != qname {
            self.docs.push(doc(
                "NSEC",
                cover_owner,
                format!(
                    "{} is an empty non-terminal (next: {}): it exists with no {qtype}",
                    name_text(qname),
                    name_text(next)
                ),
            ));
            return Proof::Proven;
        }
        let encloser = common_ancestor(qname, cover_owner)
            .max_by_len(&common_ancestor(qname, cover.next_domain_name()));
        let Some(wildcard) = wildcard_at(&encloser) else {
            return Proof::Failed("no wildcard name".into());
        };
        match self.nsec_matching(&wildcard) {
            Some((w_owner, w))
                if !w
                    .type_bit_maps()
                    .any(|t| t == qtype || t == RecordType::CNAME) =>
            {
                self.docs.push(doc(
                    "NSEC",
                    cover_owner,
                    format!("no name {} exists", name_text(qname)),
                ));
                self.docs.push(doc(
                    "NSEC",
                    w_owner,
                    format!("the wildcard {} has no {qtype}", name_text(&wildcard)),
                ));
                Proof::Proven
            }
            _ => Proof::Failed(format!(
                "no NSEC shows that the wildcard {} lacks {qtype}",
                name_text(&wildcard)
            )),
        }
    }

    fn nsec_nxdomain(&mut self, qname: &Name) -> Proof {
        if let Some((owner, _)) = self.nsec_matching(qname) {
            return Proof::Failed(format!(
                "an NSEC at {} shows that the name exists",
                name_text(owner)
            ));
        }
        let Some((cover_owner, cover)) = self.nsec_covering(qname) else {
            return Proof::Failed(format!("no NSEC covers {}", name_text(qname)));
        };
        // A next name below the name makes it an empty non-terminal: it exists.
        let next = cover.next_domain_name();
        if qname.zone_of(next) && next != qname {
            return Proof::Failed(format!(
                "the NSEC at {} names {} next: {} is an empty non-terminal and exists",
                name_text(cover_owner),
                name_text(next),
                name_text(qname)
            ));
        }
        let encloser = common_ancestor(qname, cover_owner)
            .max_by_len(&common_ancestor(qname, cover.next_domain_name()));
        let Some(wildcard) = wildcard_at(&encloser) else {
            return Proof::Failed("no wildcard name".into());
        };
        self.docs.push(doc(
            "NSEC",
            cover_owner,
            format!(
                "no name between {} and {}: {} does not exist",
                name_text(cover_owner),
                name_text(cover.next_domain_name()),
                name_text(qname)
            ),
        ));
        if self.nsec_matching(&wildcard).is_some() {
            return Proof::Failed(format!(
                "the wildcard {} exists, so {} should have been answered from it",
                name_text(&wildcard),
                name_text(qname)
            ));
        }
        match self.nsec_covering(&wildcard) {
            Some((w_owner, _)) => {
                if w_owner != cover_owner {
                    self.docs.push(doc(
                        "NSEC",
                        w_owner,
                        format!("no wildcard {} exists", name_text(&wildcard)),
                    ));
                } else if let Some(last) = self.docs.last_mut() {
                    last.proves
                        .push_str(&format!(", nor the wildcard {}", name_text(&wildcard)));
                }
                Proof::Proven
            }
            None => Proof::Failed(format!(
                "no NSEC shows that the wildcard {} does not exist",
                name_text(&wildcard)
            )),
        }
    }

    /// The NSEC3 parameters the records share.
    fn nsec3_params(&self) -> Option<Nsec3Params> {
        let (_, first) = self.nsec3.first()?;
        let params = Nsec3Params {
            iterations: first.iterations(),
            salt: first.salt().to_vec(),
        };
        // RFC 5155 §8.2: records with other parameters are ignored; a set with mixed ones
        // yields no proof but the first set's.
        Some(params)
    }

    fn nsec3_hash(&self, name: &Name, params: &Nsec3Params) -> Option<Vec<u8>> {
        Nsec3HashAlgorithm::SHA1
            .hash(&params.salt, name, params.iterations)
            .ok()
            .map(|d| d.as_ref().to_vec())
    }

    fn nsec3_records(&self, params: &Nsec3Params) -> Vec<(&'a Name, &'a NSEC3, Vec<u8>)> {
        self.nsec3
            .iter()
            .filter(|(_, n)| {
                n.iterations() == params.iterations && n.salt() == params.salt.as_slice()
            })
            .filter_map(|(owner, n)| {
                let label = owner.iter().next()?;
                let hash = data_encoding::BASE32_DNSSEC
                    .decode(&label.to_ascii_lowercase())
                    .ok()?;
                Some((*owner, *n, hash))
            })
            .collect()
    }

    fn nsec3_matching(&self, name: &Name, params: &Nsec3Params) -> Option<(&'a Name, &'a NSEC3)> {
        let hash = self.nsec3_hash(name, params)?;
        self.nsec3_records(params)
            .into_iter()
            .find(|(_, _, h)| *h == hash)
            .map(|(o, n, _)| (o, n))
    }

    fn nsec3_covering(&self, name: &Name, params: &Nsec3Params) -> Option<(&'a Name, &'a NSEC3)> {
        let hash = self.nsec3_hash(name, params)?;
        self.nsec3_records(params)
            .into_iter()
            .find(|(_, n, h)| {
                let next = n.next_hashed_owner_name();
                match h.as_slice().cmp(next) {
                    Ordering::Less => h.as_slice() < hash.as_slice() && hash.as_slice() < next,
                    _ => h.as_slice() < hash.as_slice() || hash.as_slice() < next,
                }
            })
            .map(|(o, n, _)| (o, n))
    }

    fn nsec3_checked_params(&self) -> Result<Nsec3Params, Proof> {
        let params = self.nsec3_params().ok_or(Proof::UnknownHash)?;
        if params.iterations > MAX_NSEC3_ITERATIONS {
            return Err(Proof::TooManyIterations(params.iterations));
        }
        Ok(params)
    }

    /// RFC 5155 §8.3: the closest encloser of `qname` (an ancestor with a matching NSEC3) and
    /// the NSEC3 covering the next closer name. Returns them with whether the cover opts out.
    fn closest_encloser(
        &mut self,
        qname: &Name,
        params: &Nsec3Params,
    ) -> Result<(Name, bool), String> {
        let mut candidate = qname.base_name();
        loop {
            if let Some((owner, _)) = self.nsec3_matching(&candidate, params) {
                let Some(next) = next_closer(qname, &candidate) else {
                    return Err("no next closer name".into());
                };
                let Some((c_owner, cover)) = self.nsec3_covering(&next, params) else {
                    return Err(format!(
                        "no NSEC3 covers the next closer name {}",
                        name_text(&next)
                    ));
                };
                self.docs.push(doc(
                    "NSEC3",
                    owner,
                    format!("closest encloser {} exists", name_text(&candidate)),
                ));
                self.docs.push(doc(
                    "NSEC3",
                    c_owner,
                    format!(
                        "the next closer name {} does not exist{}",
                        name_text(&next),
                        if cover.opt_out() {
                            " (opt-out span: unsigned delegations may hide here)"
                        } else {
                            ""
                        }
                    ),
                ));
                return Ok((candidate, cover.opt_out()));
            }
            if candidate.is_root() {
                return Err(format!(
                    "no NSEC3 proves a closest encloser of {}",
                    name_text(qname)
                ));
            }
            candidate = candidate.base_name();
        }
    }

    fn nsec3_nodata(&mut self, qname: &Name, qtype: RecordType) -> Proof {
        let params = match self.nsec3_checked_params() {
            Ok(p) => p,
            Err(proof) => return proof,
        };
        if let Some((owner, n3)) = self.nsec3_matching(qname, &params) {
            let types: Vec<RecordType> = n3.type_bit_maps().collect();
            if types.contains(&qtype) || types.contains(&RecordType::CNAME) {
                return Proof::Failed(format!(
                    "the NSEC3 for {} lists {qtype} (or CNAME): the type exists",
                    name_text(qname)
                ));
            }
            self.docs.push(doc(
                "NSEC3",
                owner,
                format!(
                    "{} exists with only [{}]: no {qtype}",
                    name_text(qname),
                    types_text(types.iter().copied())
                ),
            ));
            return Proof::Proven;
        }
        // §8.6: no DS at an insecure delegation within an opt-out span; §8.7: wildcard NODATA.
        let (encloser, opt_out) = match self.closest_encloser(qname, &params) {
            Ok(x) => x,
            Err(e) => return Proof::Failed(e),
        };
        if qtype == RecordType::DS && opt_out {
            return Proof::OptOut;
        }
        let Some(wildcard) = wildcard_at(&encloser) else {
            return Proof::Failed("no wildcard name".into());
        };
        match self.nsec3_matching(&wildcard, &params) {
            Some((owner, w))
                if !w
                    .type_bit_maps()
                    .any(|t| t == qtype || t == RecordType::CNAME) =>
            {
                self.docs.push(doc(
                    "NSEC3",
                    owner,
                    format!("the wildcard {} has no {qtype}", name_text(&wildcard)),
                ));
                if opt_out {
                    Proof::OptOut
                } else {
                    Proof::Proven
                }
            }
            _ => Proof::Failed(format!(
                "no NSEC3 matches {} and none shows the wildcard {} lacks {qtype}",
                name_text(qname),
                name_text(&wildcard)
            )),
        }
    }

    fn nsec3_nxdomain(&mut self, qname: &Name) -> Proof {
        let params = match self.nsec3_checked_params() {
            Ok(p) => p,
            Err(proof) => return proof,
        };
        if self.nsec3_matching(qname, &params).is_some() {
            return Proof::Failed(format!(
                "an NSEC3 matches {}: the name exists",
                name_text(qname)
            ));
        }
        let (encloser, opt_out) = match self.closest_encloser(qname, &params) {
            Ok(x) => x,
            Err(e) => return Proof::Failed(e),
        };
        let Some(wildcard) = wildcard_at(&encloser) else {
            return Proof::Failed("no wildcard name".into());
        };
        match self.nsec3_covering(&wildcard, &params) {
            Some((owner, _)) => {
                self.docs.push(doc(
                    "NSEC3",
                    owner,
                    format!("no wildcard {} exists", name_text(&wildcard)),
                ));
                if opt_out {
                    Proof::OptOut
                } else {
                    Proof::Proven
                }
            }
            None => Proof::Failed(format!(
                "no NSEC3 shows that the wildcard {} does not exist",
                name_text(&wildcard)
            )),
        }
    }

    /// For a DS question answered NODATA at `name`: is `name` a delegation without DS (an
    /// insecure delegation), not a zone cut at all, or neither provable?
    pub fn ds_absence(&mut self, name: &Name) -> DsAbsence {
        if let Some((owner, nsec)) = self.nsec_matching(name) {
            let types: Vec<RecordType> = nsec.type_bit_maps().collect();
            if types.contains(&RecordType::DS) {
                return DsAbsence::Failed(format!("the NSEC at {} lists DS", name_text(owner)));
            }
            if types.contains(&RecordType::NS) && !types.contains(&RecordType::SOA) {
                self.docs.push(doc(
                    "NSEC",
                    owner,
                    format!(
                        "{} is a delegation (NS) without DS: the child zone is unsigned",
                        name_text(name)
                    ),
                ));
                return DsAbsence::InsecureDelegation;
            }
            return DsAbsence::NotACut;
        }
        if !self.nsec3.is_empty() {
            let params = match self.nsec3_checked_params() {
                Ok(p) => p,
                Err(Proof::TooManyIterations(n)) => return DsAbsence::TooManyIterations(n),
                Err(_) => return DsAbsence::UnknownHash,
            };
            if let Some((owner, n3)) = self.nsec3_matching(name, &params) {
                let types: Vec<RecordType> = n3.type_bit_maps().collect();
                if types.contains(&RecordType::DS) {
                    return DsAbsence::Failed(format!(
                        "the NSEC3 for {} lists DS",
                        name_text(name)
                    ));
                }
                if types.contains(&RecordType::NS) && !types.contains(&RecordType::SOA) {
                    self.docs.push(doc(
                        "NSEC3",
                        owner,
                        format!(
                            "{} is a delegation (NS) without DS: the child zone is unsigned",
                            name_text(name)
                        ),
                    ));
                    return DsAbsence::InsecureDelegation;
                }
                return DsAbsence::NotACut;
            }
            return match self.closest_encloser(name, &params) {
                Ok((_, true)) => DsAbsence::OptOut,
                Ok((_, false)) => DsAbsence::NoSuchName,
                Err(e) => DsAbsence::Failed(e),
            };
        }
        if self.nsec_covering(name).is_some() {
            return DsAbsence::NoSuchName;
        }
        DsAbsence::Failed(format!(
            "no NSEC or NSEC3 denies a DS at {}",
            name_text(name)
        ))
    }
}

/// What a DS denial says about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DsAbsence {
    InsecureDelegation,
    /// RFC 5155 §6: an opt-out span may hold an unsigned delegation.
    OptOut,
    /// The name exists but is not a zone cut.
    NotACut,
    /// The name does not exist.
    NoSuchName,
    TooManyIterations(u16),
    UnknownHash,
    Failed(String),
}

struct Nsec3Params {
    iterations: u16,
    salt: Vec<u8>,
}

/// The ancestor of `qname` one label longer than `encloser` (RFC 5155 §1.3 "next closer").
fn next_closer(qname: &Name, encloser: &Name) -> Option<Name> {
    let want = usize::from(encloser.num_labels()) + 1;
    if usize::from(qname.num_labels()) < want {
        return None;
    }
    Some(qname.trim_to(want))
}

trait MaxByLen {
    fn max_by_len(self, other: &Name) -> Name;
}

impl MaxByLen for Name {
    fn max_by_len(self, other: &Name) -> Name {
        if other.num_labels() > self.num_labels() {
            other.clone()
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::dnssec::rdata::NSEC;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn nsec(next: &str, types: &[RecordType]) -> NSEC {
        NSEC::new(n(next), types.iter().copied())
    }

    #[test]
    fn nsec_cover_with_wrap_rfc_4034_section_6_1() {
        assert!(nsec_covers(
            &n("a.example."),
            &n("c.example."),
            &n("b.example.")
        ));
        assert!(!nsec_covers(
            &n("a.example."),
            &n("c.example."),
            &n("c.example.")
        ));
        assert!(nsec_covers(
            &n("z.example."),
            &n("example."),
            &n("zz.example.")
        ));
        assert!(!nsec_covers(
            &n("z.example."),
            &n("example."),
            &n("a.example.")
        ));
        assert!(nsec_covers(
            &n("a.example."),
            &n("c.example."),
            &n("x.a.example.")
        ));
    }

    #[test]
    fn nsec_nodata_and_nxdomain_rfc_4035_section_5_4() {
        let owner_a = n("a.example.");
        let at_a = nsec(
            "c.example.",
            &[RecordType::A, RecordType::RRSIG, RecordType::NSEC],
        );
        let apex = n("example.");
        let at_apex = nsec("a.example.", &[RecordType::SOA, RecordType::NS]);
        let mut d = Denial {
            nsec: vec![(&owner_a, &at_a), (&apex, &at_apex)],
            ..Denial::default()
        };
        assert_eq!(
            d.prove_nodata(&n("a.example."), RecordType::TLSA),
            Proof::Proven
        );
        assert!(matches!(
            d.prove_nodata(&n("a.example."), RecordType::A),
            Proof::Failed(_)
        ));
        let mut d = Denial {
            nsec: vec![(&owner_a, &at_a), (&apex, &at_apex)],
            ..Denial::default()
        };
        // b.example. is covered by a→c, and *.example. by example.→a.
        assert_eq!(d.prove_nxdomain(&n("b.example.")), Proof::Proven);
        assert_eq!(d.docs.len(), 2);
        // Without the record covering the wildcard, nothing is proven.
        let mut d = Denial {
            nsec: vec![(&owner_a, &at_a)],
            ..Denial::default()
        };
        assert!(matches!(
            d.prove_nxdomain(&n("b.example.")),
            Proof::Failed(_)
        ));
    }

    #[test]
    fn delegation_nsec_proves_only_the_missing_ds_rfc_6840_section_4_1() {
        let owner = n("sub.example.");
        let cut = nsec(
            "z.example.",
            &[RecordType::NS, RecordType::RRSIG, RecordType::NSEC],
        );
        let mut d = Denial {
            nsec: vec![(&owner, &cut)],
            ..Denial::default()
        };
        assert_eq!(
            d.ds_absence(&n("sub.example.")),
            DsAbsence::InsecureDelegation
        );
        let mut d = Denial {
            nsec: vec![(&owner, &cut)],
            ..Denial::default()
        };
        assert!(matches!(
            d.prove_nodata(&n("sub.example."), RecordType::A),
            Proof::Failed(_)
        ));
        // Nor does it deny names below the cut.
        let mut d = Denial {
            nsec: vec![(&owner, &cut)],
            ..Denial::default()
        };
        assert!(matches!(
            d.prove_nxdomain(&n("www.sub.example.")),
            Proof::Failed(_)
        ));
    }

    #[test]
    fn next_closer_names() {
        assert_eq!(
            next_closer(&n("a.b.c.example."), &n("example.")),
            Some(n("c.example."))
        );
        assert_eq!(next_closer(&n("example."), &n("example.")), None);
        assert_eq!(
            common_ancestor(&n("a.b.example."), &n("c.b.example.")),
            n("b.example.")
        );
    }
}
