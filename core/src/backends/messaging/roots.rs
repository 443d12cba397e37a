//! The root of each entity's job tree (the lot a wafer's step belongs to), learnt from the
//! parents the events name. An event names only its parent, so a writer remembers, for the
//! entities with a parent, which root they hang under.
//!
//! Bounded: the oldest entries are forgotten first. An entity whose parent was forgotten (or
//! started in another process) is keyed by its parent, the closest ancestor known.

use std::collections::{HashMap, VecDeque};

use crate::backends::recent::Quick;
use crate::event::EntityRef;

/// How many child entities are remembered (about 100 bytes each).
const REMEMBERED: usize = 262_144;

#[derive(Default)]
pub(crate) struct Roots {
    root_of: HashMap<String, String, Quick>,
    order: VecDeque<String>,
}

impl Roots {
    /// The id of the root of `entity`'s tree: its own id when it has no parent.
    pub(crate) fn root(&mut self, entity: &EntityRef<'_>) -> String {
        let Some(parent) = entity.parent else {
            return entity.id.to_string();
        };
        if let Some(root) = self.root_of.get(entity.id) {
            return root.clone();
        }
        let root = self
            .root_of
            .get(parent)
            .cloned()
            .unwrap_or_else(|| parent.to_string());
        if self.order.len() == REMEMBERED {
            if let Some(oldest) = self.order.pop_front() {
                self.root_of.remove(&oldest);
            }
        }
        self.order.push_back(entity.id.to_string());
        self.root_of.insert(entity.id.to_string(), root.clone());
        root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity<'a>(id: &'a str, parent: Option<&'a str>) -> EntityRef<'a> {
        EntityRef {
            kind: "job",
            id,
            name: None,
            parent,
            key: None,
        }
    }

    #[test]
    fn every_level_of_a_tree_has_the_root_of_its_top() {
        let mut roots = Roots::default();
        assert_eq!(roots.root(&entity("lot", None)), "lot");
        assert_eq!(roots.root(&entity("wafer", Some("lot"))), "lot");
        assert_eq!(roots.root(&entity("step", Some("wafer"))), "lot");
        assert_eq!(roots.root(&entity("step", Some("wafer"))), "lot");
    }

    #[test]
    fn a_parent_never_seen_stands_in_for_the_root() {
        let mut roots = Roots::default();
        assert_eq!(roots.root(&entity("step", Some("wafer-9"))), "wafer-9");
        assert_eq!(roots.root(&entity("probe", Some("step"))), "wafer-9");
    }

    #[test]
    fn the_oldest_children_are_forgotten_first() {
        let mut roots = Roots::default();
        roots.root(&entity("first", Some("lot-a")));
        for i in 0..REMEMBERED {
            roots.root(&entity(&format!("w{i}"), Some("lot-b")));
        }
        assert_eq!(roots.root_of.len(), REMEMBERED);
        assert!(!roots.root_of.contains_key("first"));
        assert_eq!(roots.root(&entity("w1", Some("lot-b"))), "lot-b");
    }
}
