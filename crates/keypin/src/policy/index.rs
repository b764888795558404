//! The policy: its rules, indexed for the lookup every handshake makes.

use std::collections::HashMap;
use std::path::Path;

use crate::error::Error;
use crate::host::{HostPattern, normalize};

use super::diagnostic::PolicyError;
use super::fields::read_policy_file;
use super::model::{Rule, RuleSpec};
use super::parse::{AnchorFiles, Validator, parse};

/// A validated pin policy. Immutable: to change pins, build a new one.
#[derive(Debug, Clone)]
pub struct Policy {
    source_name: String,
    rules: Vec<Rule>,
    index: Index,
}

#[derive(Debug, Clone, Default)]
struct Index {
    exact: HashMap<Box<str>, u32>,
    one_label: HashMap<Box<str>, u32>,
    any_depth: HashMap<Box<str>, u32>,
}

impl Policy {
    /// The policy of validated `rules`, with the index its lookups use.
    pub(super) fn indexed(source_name: String, rules: Vec<Rule>) -> Self {
        let mut index = Index::default();
        for (i, rule) in rules.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            for h in rule.hosts() {
                let map = match h {
                    HostPattern::Exact(_) => &mut index.exact,
                    HostPattern::OneLabel(_) => &mut index.one_label,
                    HostPattern::AnyDepth(_) => &mut index.any_depth,
                };
                map.insert(h.base().into(), i);
            }
        }
        Self {
            source_name,
            rules,
            index,
        }
    }

    /// A policy with no rules: every host gets ordinary validation only.
    pub fn empty() -> Self {
        Self {
            source_name: "<empty>".into(),
            rules: Vec::new(),
            index: Index::default(),
        }
    }

    /// Parses policy text. `source_name` names it in messages. Trust anchors must be inline
    /// PEM: an entry naming a file is refused, never opened (see [`AnchorSource`](crate::policy::AnchorSource)).
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, PolicyError> {
        let rules = parse(text, source_name, AnchorFiles::Refused, None)?;
        Ok(Self::indexed(source_name.to_string(), rules))
    }

    /// Validates policy text like [`Policy::from_toml_str`] and returns its rules as
    /// [`RuleSpec`]s, in file order (what a signed bundle carries). Like a bundle, it takes
    /// inline PEM trust anchors only.
    pub fn rule_specs_from_toml(
        text: &str,
        source_name: &str,
    ) -> Result<Vec<RuleSpec>, PolicyError> {
        let mut specs = Vec::new();
        parse(text, source_name, AnchorFiles::Refused, Some(&mut specs))?;
        Ok(specs)
    }

    /// Reads and parses a policy file. Its `trust_anchors` may name PEM files (the only way to
    /// load a policy that may): relative paths are resolved against the file's directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = read_policy_file(path)?;
        let source_name = path.display().to_string();
        let anchor_files =
            AnchorFiles::RelativeTo(path.parent().unwrap_or(Path::new(".")).to_path_buf());
        let rules = parse(&text, &source_name, anchor_files, None)?;
        Ok(Self::indexed(source_name, rules))
    }

    /// Where the policy came from.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// All rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule for `host`, the most specific one when several match: an exact name beats any
    /// wildcard; among wildcards, the one with the longer base wins, and at the same base
    /// `*.` (one label) beats `**.` (any depth). `None`: ordinary validation only.
    pub fn rule_for(&self, host: &str) -> Option<&Rule> {
        self.rule_index_for(host)
            .and_then(|i| self.rules.get(i as usize))
    }

    pub(crate) fn rule_index_for(&self, host: &str) -> Option<u32> {
        let host = normalize(host);
        let host: &str = &host;
        if let Some(i) = self.index.exact.get(host) {
            return Some(*i);
        }
        // Walk the suffixes of `host`, longest first: the first hit is the most specific.
        let mut suffix = host;
        let mut depth = 0usize;
        loop {
            if depth == 1
                && let Some(i) = self.index.one_label.get(suffix)
            {
                return Some(*i);
            }
            if let Some(i) = self.index.any_depth.get(suffix) {
                return Some(*i);
            }
            match suffix.split_once('.') {
                Some((_, rest)) if !rest.is_empty() => {
                    suffix = rest;
                    depth += 1;
                }
                _ => return None,
            }
        }
    }

    /// Builds a policy from rules made in code (for tests, tools and signed bundles). Trust
    /// anchors must be inline PEM ([`AnchorSource::Inline`](crate::policy::AnchorSource::Inline)); a file is refused, never opened.
    pub fn from_rules(source_name: &str, rules: Vec<RuleSpec>) -> Result<Self, PolicyError> {
        let mut v = Validator::new(source_name, "");
        for (i, spec) in rules.into_iter().enumerate() {
            v.add_rule(i, spec);
        }
        Ok(Self::indexed(source_name.to_string(), v.finish()?))
    }
}

impl Policy {
    /// The same policy without the rules that `keep` refuses (their hosts then get ordinary
    /// validation only). The report sender uses it for `report_delivery = "unpinned"`.
    pub fn retain_rules(&self, keep: impl Fn(&Rule) -> bool) -> Self {
        let rules = self.rules.iter().filter(|r| keep(r)).cloned().collect();
        Self::indexed(self.source_name.clone(), rules)
    }
}
